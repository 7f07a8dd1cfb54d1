"""Choose the run's recorder from the OTEL_* variables (apart from `telemetry`, which `telemetry_sdk` builds on)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from trigger_schedule.telemetry import INSTALL_HINT, Recorder, ci_trace_headers, endpoint_configured, register_secrets


def configure(environ: Mapping[str, str], warn: Callable[[str], None]) -> Recorder:
    """The recorder the OTEL_* variables ask for: OpenTelemetry when an endpoint is set, else a no-op."""
    register_secrets(environ)
    headers = ci_trace_headers(environ)
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or not endpoint_configured(environ):
        return Recorder(headers)
    try:
        from trigger_schedule import telemetry_sdk
    except ImportError as exc:
        warn(
            f"OTEL_EXPORTER_OTLP_* is set but OpenTelemetry is not installed ({exc.name}): "
            f"{INSTALL_HINT} to export traces and metrics; the run goes on without them"
        )
        return Recorder(headers)
    try:
        return telemetry_sdk.OtelRecorder(environ, headers, warn)
    except Exception as exc:  # a setting the SDK rejects must not stop the run
        warn(f"OpenTelemetry could not be set up ({type(exc).__name__}: {exc}); the run goes on without it")
        return Recorder(headers)
