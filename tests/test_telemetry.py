"""OpenTelemetry from the CLI: through a real Collector (built by scripts/tools/otelcol.sh) to an OTLP/HTTP
receiver (servers/receivers.py) that keeps the protobuf bytes, decoded here with opentelemetry-proto."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_runner import TOKEN, clean_env, github_env, run_cli
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from servers.harness import GenericScheduler
from servers.processes import serving

ROOT = Path(__file__).resolve().parent.parent
SERVERS = Path(__file__).parent / "servers"
COLLECTOR = ROOT / ".tools" / "servers" / "otelcol" / "otelcol"
OTLP_SECRET = "otlp-key-CANARY-5d1e9"
CI_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CI_PARENT_ID = "00f067aa0ba902b7"
CI_TRACEPARENT = f"00-{CI_TRACE_ID}-{CI_PARENT_ID}-01"
FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")


class Receiver:
    """What the OTLP/HTTP receiver was sent: raw protobuf bytes by path, and their decoded messages."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.url = folder, f"http://127.0.0.1:{port}"

    def entries(self) -> list[dict[str, Any]]:
        path = self.folder / "received.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [{**e, "body": e["body_base64"]} for e in entries if "body_base64" in e]

    def reset(self) -> None:
        (self.folder / "received.jsonl").unlink(missing_ok=True)

    def raw(self) -> bytes:
        return b"".join(base64.b64decode(e["body"]) for e in self.entries())

    def wait_for(self, *paths: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = {e["path"] for e in self.entries()}
            if all(p in seen for p in paths):
                return
            time.sleep(0.1)
        raise AssertionError(f"the receiver got {sorted({e['path'] for e in self.entries()})}, not {paths}")

    def spans(self) -> list[Any]:
        found = []
        for entry in self.entries():
            if entry["path"].endswith("/traces"):
                request = ExportTraceServiceRequest.FromString(base64.b64decode(entry["body"]))
                for resource_spans in request.resource_spans:
                    for scope in resource_spans.scope_spans:
                        found += [(resource_spans.resource, span) for span in scope.spans]
        return found

    def metrics(self) -> dict[str, Any]:
        found = {}
        for entry in self.entries():
            if entry["path"].endswith("/metrics"):
                request = ExportMetricsServiceRequest.FromString(base64.b64decode(entry["body"]))
                for resource_metrics in request.resource_metrics:
                    for scope in resource_metrics.scope_metrics:
                        found.update({metric.name: metric for metric in scope.metrics})
        return found


def has(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    missing = {k: (actual.get(k), v) for k, v in expected.items() if actual.get(k) != v}
    assert not missing, f"(got, wanted): {missing}"
    return True


def run_python(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python ARGS -m trigger_schedule ...`: the CLI under interpreter options (-X importtime)."""
    split = args.index("trigger")
    command = [sys.executable, *args[:split], "-m", "trigger_schedule", *args[split:]]
    return subprocess.run(command, env=clean_env(env), cwd=cwd, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def attrs(key_values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in key_values:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


@pytest.fixture(scope="session")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    folder = tmp_path_factory.mktemp("otlp")
    with serving(SERVERS / "receivers.py", ["--dir", str(folder)], [folder / "http.port", folder / "smtp.port"]) as (
        port,
        _,
    ):
        yield Receiver(folder, port)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the collector exited: {process.stderr.read().decode() if process.stderr else ''}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the collector did not listen on {port} within {timeout:.0f} s")


@pytest.fixture(scope="session")
def collector(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenTelemetry Collector: otlp receiver -> otlp_http exporter (to the receiver) and debug."""
    if not COLLECTOR.exists():
        pytest.skip(f"no collector at {COLLECTOR}: run bash scripts/tools/otelcol.sh (it needs Go)")
    port = _free_port()
    config = tmp_path_factory.mktemp("otelcol") / "config.yaml"
    pipeline = {"receivers": ["otlp"], "exporters": ["otlp_http", "debug"]}
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
                "exporters": {
                    # No queue and no retries: an export is forwarded before the collector answers it.
                    "otlp_http": {
                        "endpoint": receiver.url,
                        "sending_queue": {"enabled": False},
                        "retry_on_failure": {"enabled": False},
                    },
                    "debug": {"verbosity": "basic"},
                },
                "service": {
                    "telemetry": {
                        "metrics": {"level": "none"},
                        "logs": {"level": "warn"},
                    },
                    "pipelines": {"traces": pipeline, "metrics": pipeline},
                },
            }
        )
    )
    process = subprocess.Popen(
        [str(COLLECTOR), "--config", f"file:{config}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def otel_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={OTLP_SECRET}",
        "OTEL_SERVICE_NAME": "deploy-shop",
        "OTEL_RESOURCE_ATTRIBUTES": "team=data,deployment.region=eu",
        **extra,
    }


def trigger(server: GenericScheduler, job: str, *extra: str) -> list[str]:
    return [
        "trigger",
        "--platform",
        "generic",
        "--url",
        server.url,
        "--job",
        job,
        *FAST,
        *extra,
    ]


def test_span_tree_attributes_and_joined_trace(
    generic_server: GenericScheduler, receiver: Receiver, collector: str, tmp_path: Path
) -> None:
    receiver.reset()
    gate = json.dumps({"url": f"{generic_server.url}/healthz", "interval": "100ms", "timeout": "10s"})
    env = github_env(
        GITHUB_WORKFLOW="Deploy", GITHUB_JOB="sync", GITHUB_RUN_ID="9753", TRACEPARENT=CI_TRACEPARENT,
        TRACESTATE="vendor=abc", **otel_env(collector),
    )  # fmt: skip
    args = trigger(generic_server, "fail", "--gate", gate, "--on-failure", '{"job": "instant"}')
    result = run_cli(
        *args,
        "--environment",
        "production",
        "--deploy-version",
        "2.4.0",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr  # the job's failure, unchanged by telemetry
    receiver.wait_for("/v1/traces", "/v1/metrics")

    spans = {span.name: (resource, span) for resource, span in receiver.spans()}
    assert set(spans) == {
        "trigger-schedule plan",
        "trigger fail",
        "gate",
        "trigger request",
        "wait",
        "compensation",
    }
    resource, plan = spans["trigger-schedule plan"]
    ids = {name: span.span_id for name, (_, span) in spans.items()}
    # The plan joins the CI's trace: its trace id, under the CI's span.
    assert {span.trace_id.hex() for _, span in spans.values()} == {CI_TRACE_ID}
    assert plan.parent_span_id.hex() == CI_PARENT_ID
    assert spans["trigger fail"][1].parent_span_id == ids["trigger-schedule plan"]
    for child in ("gate", "wait", "compensation"):
        assert spans[child][1].parent_span_id == ids["trigger fail"], child
    requests = [span for _, span in receiver.spans() if span.name == "trigger request"]
    assert sorted(r.parent_span_id for r in requests) == sorted([ids["trigger fail"], ids["compensation"]])
    assert all(r.kind == 3 for r in requests)  # SPAN_KIND_CLIENT

    assert has(attrs(resource.attributes), {"service.name": "deploy-shop", "team": "data"})
    assert has(
        attrs(plan.attributes),
        {
            "cicd.pipeline.name": "Deploy",
            "cicd.pipeline.run.id": "9753",
            "cicd.pipeline.task.name": "sync",
            "vcs.repository.url.full": "https://github.com/acme/shop",
            "vcs.ref.head.name": "main",
            "vcs.ref.head.revision": env["GITHUB_SHA"],
            "deployment.environment.name": "production",
            "trigger_schedule.deploy.version": "2.4.0",
            "trigger_schedule.exit_code": 1,
            "trigger_schedule.status": "failed",
        },
    )
    trigger_attrs = attrs(spans["trigger fail"][1].attributes)
    assert has(
        trigger_attrs,
        {
            "trigger_schedule.platform": "generic",
            "trigger_schedule.job": "fail",
            "trigger_schedule.decision": "triggered",
            "trigger_schedule.status": "failed",
            "trigger_schedule.exit_code": 1,
            "trigger_schedule.run.id": "run-1",
        },
    )
    assert trigger_attrs["trigger_schedule.run.url"].endswith("/ui/runs/run-1")
    assert spans["trigger fail"][1].status.code == 2 and spans["wait"][1].status.code == 2  # ERROR
    assert spans["gate"][1].status.code != 2 and spans["compensation"][1].status.code != 2

    # The scheduler got the request span's context, and the CI's tracestate.
    sent = [{k.lower(): v for k, v in r["headers"].items()} for r in generic_server.requests("trigger")]
    assert [h["traceparent"] for h in sent] == [f"00-{CI_TRACE_ID}-{r.span_id.hex()}-01" for r in requests]
    assert all(h["tracestate"] == "vendor=abc" for h in sent)
    assert "traceparent" not in {k.lower() for k in generic_server.requests("status")[0]["headers"]}

    exported = receiver.raw()
    assert TOKEN.encode() not in exported and OTLP_SECRET.encode() not in exported
    # GitHub masks what `::add-mask::` names (those lines never reach the log); nothing else may show it.
    output = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert f"::add-mask::{OTLP_SECRET}" in result.stdout
    assert not [line for line in output if OTLP_SECRET in line or TOKEN in line]


def _points(metric: Any) -> list[tuple[dict[str, Any], Any]]:
    data = metric.sum if metric.WhichOneof("data") == "sum" else metric.histogram
    return [(attrs(point.attributes), point) for point in data.data_points]


def test_metrics_count_triggers_calls_and_retries(
    generic_server: GenericScheduler, receiver: Receiver, collector: str, tmp_path: Path
) -> None:
    receiver.reset()
    generic_server.inject("trigger", [{"status": 503, "body": {"error": "busy"}}])
    result = run_cli(*trigger(generic_server, "instant"), env=otel_env(collector), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    receiver.wait_for("/v1/metrics")
    metrics = receiver.metrics()
    assert {"trigger_schedule.triggers", "trigger_schedule.run.duration", "trigger_schedule.api.calls",
            "trigger_schedule.api.retries"} <= set(metrics)  # fmt: skip
    ((labels, point),) = _points(metrics["trigger_schedule.triggers"])
    assert labels == {
        "trigger_schedule.platform": "generic",
        "trigger_schedule.decision": "triggered",
        "trigger_schedule.status": "succeeded",
    }
    assert point.as_int == 1
    ((_, duration),) = _points(metrics["trigger_schedule.run.duration"])
    assert duration.count == 1 and 0 <= duration.sum < 30 and metrics["trigger_schedule.run.duration"].unit == "s"
    calls = {(a["http.request.method"], a.get("http.response.status_code")): p.as_int
             for a, p in _points(metrics["trigger_schedule.api.calls"])}  # fmt: skip
    assert calls[("POST", 503)] == 1 and calls[("POST", 201)] + calls.get(("POST", 200), 0) >= 1
    assert calls[("GET", 200)] >= 1  # the status reads
    ((retry_labels, retries),) = _points(metrics["trigger_schedule.api.retries"])
    assert retries.as_int == 1 and retry_labels["server.address"] == "127.0.0.1"


def test_without_otel_nothing_is_imported_and_ci_traceparent_passes_through(
    generic_server: GenericScheduler, tmp_path: Path
) -> None:
    env = {"TRACEPARENT": CI_TRACEPARENT, "OTEL_SERVICE_NAME": "unused"}
    result = run_python("-X", "importtime", *trigger(generic_server, "instant"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    imported = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert any("trigger_schedule.telemetry" in line for line in imported)  # the probe does see our modules
    assert not [line for line in imported if "opentelemetry" in line]
    (sent,) = generic_server.requests("trigger")
    assert {k.lower(): v for k, v in sent["headers"].items()}["traceparent"] == CI_TRACEPARENT


def test_no_traceparent_when_tracing_is_off(generic_server: GenericScheduler, tmp_path: Path) -> None:
    disabled = otel_env("http://127.0.0.1:9", OTEL_SDK_DISABLED="true")
    result = run_python(
        "-X",
        "importtime",
        *trigger(generic_server, "instant"),
        env=disabled,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "opentelemetry" not in result.stderr
    (sent,) = generic_server.requests("trigger")
    assert "traceparent" not in {k.lower() for k in sent["headers"]}


def test_missing_extra_warns_once_and_the_run_goes_on(generic_server: GenericScheduler, tmp_path: Path) -> None:
    # An `opentelemetry` package that cannot be imported stands for an environment without the extra.
    shadow = tmp_path / "shadow" / "opentelemetry"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('not installed', name='opentelemetry')\n")
    env = otel_env("http://127.0.0.1:9", PYTHONPATH=str(shadow.parent))
    result = run_cli(*trigger(generic_server, "instant"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("trigger-schedule[otel]") == 1, output
    assert OTLP_SECRET not in output
    (sent,) = generic_server.requests("trigger")
    assert "traceparent" not in {k.lower() for k in sent["headers"]}


def test_unreachable_collector_costs_a_bounded_wait_and_keeps_the_exit_code(
    generic_server: GenericScheduler, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    result = run_cli(*trigger(generic_server, "fail"), env=otel_env(closed), cwd=tmp_path)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "telemetry: exporting telemetry" in result.stdout + result.stderr
    assert took < 15, f"the run took {took:.1f} s"
    assert OTLP_SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("key", ["traceparent", None])
def test_airflow_conf_carries_the_trace_context_only_when_asked(key: str | None) -> None:
    from trigger_schedule import telemetry
    from trigger_schedule.clock import SystemClock
    from trigger_schedule.http import HttpClient, HttpOptions
    from trigger_schedule.platforms.airflow import AirflowPlatform
    from trigger_schedule.platforms.base import PlatformConfig, TriggerRequest

    options = {"trace-context-conf": key} if key else {}
    config = PlatformConfig(name="af", type="airflow", url="http://127.0.0.1:9", auth_type="none", options=options)
    platform = AirflowPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())
    request = TriggerRequest(job="etl", params={"day": "2024-05-01"}, idempotency_key="k1")
    span = telemetry.Span({"traceparent": CI_TRACEPARENT, "tracestate": "vendor=abc"})
    with telemetry.sending(span.trace_headers()):  # what `Span.timed(..., client=True)` sets around the trigger
        conf = platform.prepare_trigger(request).body["conf"]
    outside = platform.prepare_trigger(request).body["conf"]
    expected = {"traceparent": CI_TRACEPARENT, "traceparent_state": "vendor=abc"} if key else {}
    assert conf == {"day": "2024-05-01", **expected}
    assert outside == {"day": "2024-05-01"}  # no trace context outside a trigger request: nothing added


def test_traceparent_from_the_ci_is_checked() -> None:
    from trigger_schedule.telemetry import ci_trace_headers

    assert ci_trace_headers({"TRACEPARENT": CI_TRACEPARENT.upper()}) == {"traceparent": CI_TRACEPARENT}
    for bad in (
        "",
        "junk",
        f"00-{'0' * 32}-{CI_PARENT_ID}-01",
        f"00-{CI_TRACE_ID}-{'0' * 16}-01",
        f"ff-{CI_TRACE_ID}-{CI_PARENT_ID}-01",
    ):
        assert ci_trace_headers({"TRACEPARENT": bad, "TRACESTATE": "a=b"}) == {}, bad


def test_plan_attributes_from_gitlab_and_jenkins_contexts() -> None:
    from trigger_schedule.context import DeployInputs, build_context
    from trigger_schedule.telemetry import plan_attributes

    def attributes(env: dict[str, str]) -> dict[str, Any]:
        context = build_context(env, DeployInputs(environment="staging"), {}, cwd=ROOT, now=datetime.now(timezone.utc))
        return plan_attributes(context, env)

    gitlab = {"GITLAB_CI": "true", "CI_PROJECT_PATH": "acme/shop", "CI_SERVER_URL": "https://gitlab.example",
              "CI_COMMIT_SHA": "a" * 40, "CI_COMMIT_TAG": "v2.4.0", "CI_PIPELINE_ID": "77", "CI_JOB_ID": "901",
              "CI_JOB_NAME": "deploy-data", "CI_PIPELINE_NAME": "release"}  # fmt: skip
    assert attributes(gitlab) == {
        "cicd.pipeline.name": "release",
        "cicd.pipeline.run.id": "77",
        "cicd.pipeline.task.name": "deploy-data",
        "cicd.pipeline.task.run.id": "901",
        "vcs.provider.name": "gitlab",
        "vcs.repository.url.full": "https://gitlab.example/acme/shop",
        "vcs.repository.name": "acme/shop",
        "vcs.ref.head.name": "v2.4.0",
        "vcs.ref.head.revision": "a" * 40,
        "vcs.ref.type": "tag",
        "deployment.environment.name": "staging",
        "trigger_schedule.ci.system": "gitlab",
        "trigger_schedule.deploy.version": "v2.4.0",
    }
    jenkins = {"JENKINS_URL": "https://ci.example/", "BUILD_NUMBER": "12", "JOB_NAME": "shop/deploy",
               "STAGE_NAME": "Data", "GIT_URL": f"https://deployer:{TOKEN}@git.example/acme/shop.git",
               "GIT_COMMIT": "b" * 40, "GIT_BRANCH": "origin/main"}  # fmt: skip
    got = attributes(jenkins)
    assert got["vcs.repository.url.full"] == "https://git.example/acme/shop"  # no credentials
    assert (got["cicd.pipeline.name"], got["cicd.pipeline.task.name"], got["cicd.pipeline.run.id"]) == (
        "shop/deploy", "Data", "shop/deploy#12")  # fmt: skip
    assert got["vcs.ref.head.name"] == "main" and "vcs.provider.name" not in got
    assert TOKEN not in json.dumps(got)


def test_a_signal_endpoint_alone_exports_that_signal_with_its_headers(
    generic_server: GenericScheduler, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.reset()
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.url}/custom/traces",
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{OTLP_SECRET}",
        "OTEL_METRICS_EXPORTER": "none",
    }
    result = run_cli(*trigger(generic_server, "instant", "--no-wait"), "--debug", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    receiver.wait_for("/custom/traces")
    (entry,) = receiver.entries()  # the traces only: metrics are off
    sent_by_exporter = {k.lower(): v for k, v in entry["headers"].items()}
    assert sent_by_exporter["authorization"] == f"Bearer {OTLP_SECRET}"  # the header, decoded as the spec says
    names = sorted(span.name for _, span in receiver.spans())
    assert names == ["trigger instant", "trigger request", "trigger-schedule plan"]  # no wait: --no-wait
    (sent,) = generic_server.requests("trigger")
    request_span = next(span for _, span in receiver.spans() if span.name == "trigger request")
    # Flags: sampled, and (W3C trace context level 2) a random trace id, which a root trace has.
    assert sent["headers"]["traceparent"] == f"00-{request_span.trace_id.hex()}-{request_span.span_id.hex()}-03"
    output = result.stdout + result.stderr  # --debug logs every request's headers: still no secret
    assert "traceparent" in output and OTLP_SECRET not in output
    assert OTLP_SECRET.encode() not in receiver.raw()
