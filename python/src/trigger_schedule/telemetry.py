"""OpenTelemetry traces and metrics, when the standard OTEL_* variables ask for them.

Nothing here imports OpenTelemetry: without an OTLP endpoint the recorder is a no-op that only passes on
the CI's own W3C trace context (TRACEPARENT); `telemetry_setup` imports `telemetry_sdk` (the `otel` extra)
only when an endpoint is set. Spans are explicit objects with explicit parents, never a "current span", so a trigger
may start one on one thread and end it on another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import unquote

from trigger_schedule.secrets import REDACTOR

T = TypeVar("T")

ENDPOINT_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
)
INSTALL_HINT = "pip install 'trigger-schedule[otel]'"
# How long exporting may hold up the end of a run: past it the run ends anyway, with a warning.
SHUTDOWN_TIMEOUT_S = 5.0
# W3C trace context, version 00 (and the future versions it allows: more fields after the flags).
_TRACEPARENT = re.compile(r"^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$")

# The trace headers for the requests made within the current trigger request (set by `Span.timed`).
_OUTGOING: ContextVar[Mapping[str, str] | None] = ContextVar("trigger_schedule_trace_headers", default=None)


def outgoing_headers() -> Mapping[str, str]:
    """`traceparent` (and `tracestate`) for a request sent now, or nothing outside a trigger request."""
    return _OUTGOING.get() or {}


@contextmanager
def sending(headers: Mapping[str, str]) -> Iterator[None]:
    token = _OUTGOING.set(headers)
    try:
        yield
    finally:
        _OUTGOING.reset(token)


def ci_trace_headers(environ: Mapping[str, str]) -> dict[str, str]:
    """The trace context the CI gave (Jenkins' OpenTelemetry plugin sets TRACEPARENT), if it is valid."""
    parent = environ.get("TRACEPARENT", "").strip().lower()
    if not _TRACEPARENT.match(parent):
        return {}
    headers = {"traceparent": parent}
    state = environ.get("TRACESTATE", "").strip()
    if state:
        headers["tracestate"] = state
    return headers


class Span:
    """A span that records nothing: what every call gets when tracing is off."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._headers = dict(headers or {})

    def child(self, name: str, attributes: Mapping[str, Any] | None = None, *, client: bool = False) -> Span:
        return self

    def timed(self, name: str, call: Callable[[], T], *, client: bool = False) -> T:
        """`call()` inside a child span; a client span's trace context goes with the requests it sends."""
        span = self.child(name, client=client)
        error: BaseException | None = None
        try:
            if not client:
                return call()
            with sending(span.trace_headers()):
                return call()
        except BaseException as exc:
            error = exc
            raise
        finally:
            span.end(error=error)

    def trace_headers(self) -> dict[str, str]:
        return dict(self._headers)

    def set(self, attributes: Mapping[str, Any]) -> None:
        pass

    def end(self, *, error: BaseException | None = None, failed: str | None = None) -> None:
        """End the span (and any child still open); `error` or `failed` (a description) mark it failed."""


class Recorder:
    """Records nothing; the base of the OpenTelemetry recorder in `telemetry_sdk`."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._headers = dict(headers or {})
        self._root = Span(self._headers)

    @property
    def enabled(self) -> bool:
        return False

    def start_plan(self, name: str, attributes: Mapping[str, Any]) -> Span:
        return self._root

    def start_trigger(self, name: str, attributes: Mapping[str, Any]) -> Span:
        """A trigger's span, a child of the plan's."""
        return self._root

    def trigger_done(self, attributes: Mapping[str, str], duration_s: float | None) -> None:
        """Count one trigger by platform, decision and outcome; its run's duration, when it ran."""

    def api_call(self, method: str, url: str, status: int | None) -> None:
        pass

    def api_retry(self, method: str, url: str) -> None:
        pass

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> str | None:
        """Flush and stop exporting within `timeout_s`; a problem to warn about, or None."""
        return None


_CURRENT: list[Recorder] = [Recorder()]


def current() -> Recorder:
    return _CURRENT[0]


def install(recorder: Recorder) -> Recorder:
    """Make `recorder` the one every trigger and HTTP client reports to; returns the previous one."""
    previous, _CURRENT[0] = _CURRENT[0], recorder
    return previous


def endpoint_configured(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARS)


def parse_headers(text: str) -> dict[str, str]:
    """OTEL_EXPORTER_OTLP_HEADERS: `key=value` pairs, comma-separated, values URL-encoded."""
    headers: dict[str, str] = {}
    for item in text.split(","):
        key, found, value = item.partition("=")
        if found and key.strip():
            headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def register_secrets(environ: Mapping[str, str]) -> None:
    """The exporter's headers often carry an API key: no output may show them."""
    for name in (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    ):
        raw = environ.get(name, "")
        for value in parse_headers(raw).values():
            REDACTOR.add(value)
            # "Bearer <key>", "Basic <key>": the credential alone, as it may appear elsewhere.
            REDACTOR.add(value.rpartition(" ")[2])


# -- attributes: OpenTelemetry's CI/CD and VCS conventions, from the CI context ----------------------

_PIPELINE_NAME = {"github": ("GITHUB_WORKFLOW",), "gitlab": ("CI_PIPELINE_NAME",), "jenkins": ("JOB_NAME",)}
_TASK_NAME = {"github": ("GITHUB_JOB",), "gitlab": ("CI_JOB_NAME",), "jenkins": ("STAGE_NAME",)}
_TASK_RUN_ID = {"gitlab": ("CI_JOB_ID",)}


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str:
    return next((environ[n].strip() for n in names if environ.get(n, "").strip()), "")


def _repository_url(ci: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    if ci.get("system") in ("github", "gitlab") and ci.get("server_url") and ci.get("repository"):
        return f"{ci['server_url']}/{ci['repository']}"
    remote = _first(environ, ("GIT_URL", "GIT_URL_1"))
    if remote.startswith(("https://", "http://")):
        return re.sub(r"//[^/@]*@", "//", remote).removesuffix(".git")  # never a token put into the URL
    return ""


def plan_attributes(context: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The plan span's attributes: who ran it (pipeline, task), on what (repository, ref, commit), for what deploy."""
    ci, deploy = context.get("ci", {}), context.get("deploy", {})
    system = str(ci.get("system", ""))
    ref_type = "tag" if ci.get("tag") else "branch" if ci.get("branch") else ""
    attributes = {
        "cicd.pipeline.name": _first(environ, _PIPELINE_NAME.get(system, ())),
        "cicd.pipeline.run.id": str(ci.get("pipeline_id", "")),
        "cicd.pipeline.run.url.full": str(ci.get("pipeline_url", "")),
        "cicd.pipeline.task.name": _first(environ, _TASK_NAME.get(system, ())),
        "cicd.pipeline.task.run.id": _first(environ, _TASK_RUN_ID.get(system, ())),
        "cicd.pipeline.task.run.url.full": str(ci.get("job_url", "")),
        "vcs.provider.name": system if system in ("github", "gitlab") else "",
        "vcs.repository.url.full": _repository_url(ci, environ),
        "vcs.repository.name": str(ci.get("repository", "")),
        "vcs.ref.head.name": str(ci.get("tag") or ci.get("branch") or ""),
        "vcs.ref.head.revision": str(ci.get("sha", "")),
        "vcs.ref.type": ref_type,
        "deployment.environment.name": str(deploy.get("environment", "")),
        "trigger_schedule.ci.system": system,
        "trigger_schedule.deploy.version": str(deploy.get("version", "")),
    }
    return clean(attributes)


def clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes with a value, every text redacted: no secret reaches an exported byte."""
    kept: dict[str, Any] = {}
    for key, value in attributes.items():
        if value is None or value == "":
            continue
        kept[key] = REDACTOR.redact(value) if isinstance(value, str) else value
    return kept


def start_trigger_span(trigger: Any) -> Span:
    """A trigger's span (a `plan.TriggerSpec`), under the plan's."""
    return current().start_trigger(
        f"trigger {trigger.name}",
        {
            "cicd.pipeline.task.name": trigger.name,
            "trigger_schedule.trigger": trigger.name,
            "trigger_schedule.job": trigger.job,
            "trigger_schedule.platform": trigger.platform,
        },
    )


def result_attributes(result: Any) -> dict[str, Any]:
    """What a trigger ended with (a `results.TriggerResult`); never its parameters."""
    return clean(
        {
            "trigger_schedule.decision": str(result.decision),
            "trigger_schedule.status": str(result.status),
            "trigger_schedule.exit_code": int(result.exit_code),
            "trigger_schedule.run.id": result.run_id,
            "trigger_schedule.run.url": result.run_url,
            "trigger_schedule.attempts": int(result.attempts),
        }
    )


def end_trigger_span(span: Span, result: Any) -> None:
    span.set(result_attributes(result))
    span.end(failed=f"{result.status}: {result.reason}" if result.exit_code else None)


def end_compensation_span(span: Span, record: Mapping[str, Any]) -> None:
    """End the compensation's span from its record (a trigger result's `compensation`)."""
    span.set({"trigger_schedule.status": str(record["status"]), "trigger_schedule.run.id": record.get("run_id")})
    span.end(failed=None if record["status"] in ("succeeded", "triggered") else str(record["status"]))
