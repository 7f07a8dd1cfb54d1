"""The OpenTelemetry recorder (the `otel` extra): OTLP/HTTP traces and metrics, set up by OTEL_* variables.

Imported only by `telemetry.configure` when an OTLP endpoint is set. Providers are private to the run (no
global provider is set, nothing is exported at interpreter exit): `shutdown` flushes within its bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from trigger_schedule import __version__
from trigger_schedule.secrets import REDACTOR
from trigger_schedule.telemetry import SHUTDOWN_TIMEOUT_S, Recorder, Span, clean, parse_headers

SCOPE = "trigger_schedule"
# One export request may take this long; the run's end waits at most SHUTDOWN_TIMEOUT_S for all of them.
EXPORT_TIMEOUT_S = 4.0
# Metrics are exported once, when the run ends (an hour is past any run's export interval).
_METRIC_INTERVAL_MS = 3_600_000
_DURATION_BUCKETS_S = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400]
_PROPAGATOR = TraceContextTextMapPropagator()


class OtelSpan(Span):
    """One recorded span; `end` also ends its children still open (a wait that a timeout cut short)."""

    def __init__(self, tracer: trace.Tracer, span: trace.Span, headers: Mapping[str, str]) -> None:
        super().__init__(headers)
        self._tracer = tracer
        self._span = span
        self._open: list[OtelSpan] = []
        self._lock = threading.Lock()

    def child(self, name: str, attributes: Mapping[str, Any] | None = None, *, client: bool = False) -> Span:
        span = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(self._span),
            kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
            attributes=clean(attributes or {}),
        )
        child = OtelSpan(self._tracer, span, {})
        with self._lock:
            self._open.append(child)
        return child

    def trace_headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(self._span))
        return carrier

    def set(self, attributes: Mapping[str, Any]) -> None:
        self._span.set_attributes(clean(attributes))

    def end(self, *, error: BaseException | None = None, failed: str | None = None) -> None:
        with self._lock:
            still_open, self._open = self._open, []
        for child in still_open:
            child.end(failed=failed or (type(error).__name__ if error else None))
        if not self._span.is_recording():
            return  # ended before
        if error is not None:
            self._span.set_attribute("error.type", type(error).__name__)
            failed = failed or str(error)
        if failed:
            self._span.set_status(Status(StatusCode.ERROR, REDACTOR.redact(failed)[:500]))
        self._span.end()


class _Problems(logging.Handler):
    """The SDK reports export failures by logging; they become one warning of ours, redacted."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < 5:
            self.messages.append(REDACTOR.redact(record.getMessage())[:300])


def _signal(environ: Mapping[str, str], signal: str) -> tuple[str, dict[str, str]] | None:
    """The OTLP/HTTP endpoint and headers of `signal` (traces, metrics), or None when it is off."""
    if environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower() == "none":
        return None
    endpoint = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "").strip()
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not endpoint and base:
        endpoint = base.rstrip("/") + f"/v1/{signal}"
    if not endpoint:
        return None
    headers = parse_headers(environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    headers.update(parse_headers(environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS", "")))
    return endpoint, headers


def _resource(environ: Mapping[str, str]) -> Resource:
    attributes: dict[str, Any] = {"service.name": "trigger-schedule", "service.version": __version__}
    attributes.update(parse_headers(environ.get("OTEL_RESOURCE_ATTRIBUTES", "")))
    if environ.get("OTEL_SERVICE_NAME", "").strip():
        attributes["service.name"] = environ["OTEL_SERVICE_NAME"].strip()
    return Resource.create(clean(attributes))


class OtelRecorder(Recorder):
    def __init__(self, environ: Mapping[str, str], headers: Mapping[str, str], warn: Callable[[str], None]) -> None:
        super().__init__(headers)
        self._warn = warn
        self._problems = _Problems()
        sdk_log = logging.getLogger("opentelemetry")
        sdk_log.addHandler(self._problems)
        sdk_log.propagate = False  # the SDK's own lines would print the endpoint's answer unredacted
        resource = _resource(environ)
        self._parent = _PROPAGATOR.extract(dict(headers)) if headers else None
        self._tracing = self._tracer_provider(environ, resource)
        self._metering = self._meter_provider(environ, resource)
        self._plan: Span = Span(headers)

    def _tracer_provider(self, environ: Mapping[str, str], resource: Resource) -> TracerProvider | None:
        config = _signal(environ, "traces")
        if config is None:
            return None
        provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=config[0], headers=config[1], timeout=EXPORT_TIMEOUT_S)
        provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
        return provider

    def _meter_provider(self, environ: Mapping[str, str], resource: Resource) -> MeterProvider | None:
        config = _signal(environ, "metrics")
        if config is None:
            return None
        exporter = OTLPMetricExporter(endpoint=config[0], headers=config[1], timeout=EXPORT_TIMEOUT_S)
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=_METRIC_INTERVAL_MS, export_timeout_millis=EXPORT_TIMEOUT_S * 1000
        )
        provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        meter = provider.get_meter(SCOPE, __version__)
        self._triggers = meter.create_counter(
            "trigger_schedule.triggers", unit="{trigger}", description="Triggers by platform, decision and outcome"
        )
        self._duration = meter.create_histogram(
            "trigger_schedule.run.duration",
            unit="s",
            description="How long a trigger took, from its decision to its run's end",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS_S,
        )
        self._calls = meter.create_counter("trigger_schedule.api.calls", unit="{request}", description="API requests")
        self._retries = meter.create_counter("trigger_schedule.api.retries", unit="{retry}", description="API retries")
        return provider

    @property
    def enabled(self) -> bool:
        return True

    def start_plan(self, name: str, attributes: Mapping[str, Any]) -> Span:
        if self._tracing is None:
            return self._plan
        tracer = self._tracing.get_tracer(SCOPE, __version__)
        span = tracer.start_span(name, context=self._parent, kind=SpanKind.INTERNAL, attributes=clean(attributes))
        self._plan = OtelSpan(tracer, span, {})
        return self._plan

    def start_trigger(self, name: str, attributes: Mapping[str, Any]) -> Span:
        return self._plan.child(name, attributes)

    def trigger_done(self, attributes: Mapping[str, str], duration_s: float | None) -> None:
        if self._metering is None:
            return
        self._triggers.add(1, clean(attributes))
        if duration_s is not None:
            self._duration.record(duration_s, clean(attributes))

    def api_call(self, method: str, url: str, status: int | None) -> None:
        if self._metering is not None:
            attributes: dict[str, Any] = {**_server(method, url), "http.response.status_code": status}
            if status is None:
                attributes["error.type"] = "connection"
            self._calls.add(1, clean(attributes))

    def api_retry(self, method: str, url: str) -> None:
        if self._metering is not None:
            self._retries.add(1, clean(_server(method, url)))

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> str | None:
        """Flush both signals on a thread of its own: an unreachable collector costs the run at most `timeout_s`."""
        finished = threading.Event()
        flushed: list[bool] = []

        def flush() -> None:
            try:
                budget_ms = int(timeout_s * 1000)
                for provider in (self._tracing, self._metering):
                    if provider is not None:
                        flushed.append(bool(provider.force_flush(budget_ms)))
                        provider.shutdown()
            except Exception as exc:  # exporting must never change the run's outcome
                self._problems.messages.append(REDACTOR.redact(f"{type(exc).__name__}: {exc}")[:300])
            finally:
                finished.set()

        threading.Thread(target=flush, name="telemetry-flush", daemon=True).start()
        if not finished.wait(timeout_s):
            return f"exporting telemetry took over {timeout_s:.0f} s; the rest is dropped"
        logging.getLogger("opentelemetry").removeHandler(self._problems)
        if self._problems.messages or not all(flushed):
            detail = "; ".join(self._problems.messages) or "the exporter did not confirm"
            return f"exporting telemetry failed: {detail}"
        return None


def _server(method: str, url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {"http.request.method": method.upper(), "server.address": parts.hostname, "server.port": parts.port}
