"""The Prefect plug-in's own parts: URLs, job names, the log cursor, the event stream's set-up, its options."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_runner import run_cli
from servers.tls_proxy import Pki, make_pki, openssl_binary
from trigger_schedule.errors import ConfigError, UnreachableError
from trigger_schedule.http import TlsOptions
from trigger_schedule.platforms.prefect import LogCursor, _advance, api_url, deployment_target, ui_url
from trigger_schedule.platforms.prefect_events import FlowRunEvents, events_url, flow_run_filter
from websockets.typing import Subprotocol

CLOUD_API = "https://api.prefect.cloud/api/accounts/a1/workspaces/w2"


@pytest.mark.parametrize(
    ("url", "api_path", "expected"),
    [
        ("http://127.0.0.1:4200", "/api", "http://127.0.0.1:4200/api"),
        ("http://127.0.0.1:4200/", "/api", "http://127.0.0.1:4200/api"),
        ("http://127.0.0.1:4200/api", "/api", "http://127.0.0.1:4200/api"),  # a PREFECT_API_URL
        ("https://tools.example/prefect", "/api", "https://tools.example/prefect/api"),
        (CLOUD_API, "/api", CLOUD_API),
        ("https://proxy.example/rest", "/", "https://proxy.example/rest"),
    ],
)
def test_api_url(url: str, api_path: str, expected: str) -> None:
    assert api_url(url, api_path) == expected


def test_ui_url_derived_as_prefect_does() -> None:
    assert ui_url("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200"
    assert ui_url("https://tools.example/prefect/api") == "https://tools.example/prefect"
    assert ui_url(CLOUD_API) == "https://app.prefect.cloud/account/a1/workspace/w2"


def test_job_is_a_name_pair_or_an_id() -> None:
    assert deployment_target("etl/nightly") == ("etl", "nightly")
    uid = "0f4526bd-986f-4e5a-a7c3-d395dd396da4"
    assert deployment_target(uid.upper()) == uid
    with pytest.raises(ConfigError, match="neither 'flow-name/deployment-name' nor a deployment id"):
        deployment_target("etl")


def test_log_cursor_skips_lines_already_read_at_the_same_instant() -> None:
    first = _advance(LogCursor(), {"id": "a", "timestamp": "T1", "message": "x", "task_run_id": None})
    second = _advance(first, {"id": "b", "timestamp": "T1", "message": "y", "task_run_id": None})
    assert (second.after, second.seen, second.finished) == ("T1", frozenset({"a", "b"}), False)
    task_line = {"id": "c", "timestamp": "T2", "message": "Finished in state Completed()", "task_run_id": "t"}
    assert _advance(second, task_line).finished is False  # a task run's last line, not the flow run's
    flow_done = _advance(
        second, {"id": "d", "timestamp": "T2", "message": "Finished in state Completed()", "task_run_id": None}
    )
    assert (flow_done.after, flow_done.seen, flow_done.finished) == ("T2", frozenset({"d"}), True)


def test_plan_validation_knows_the_options(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yml"
    plan.write_text(
        """version: 1
platforms:
  prefect:
    type: prefect
    url: http://127.0.0.1:4200
    options: {tags: [team:data], work-queue: default}
triggers:
  - {name: etl, job: etl/nightly}
"""
    )
    result = run_cli("validate", "-c", str(plan), cwd=tmp_path)
    assert result.returncode == 2
    assert "work-queue" in result.stderr


def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    result = run_cli(
        *("trigger", "--platform", "prefect", "--url", "http://127.0.0.1:9", "--job", "etl/nightly"),
        *("--param", "day=2026-01-01", "--dry-run"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "would send POST http://127.0.0.1:9/api/deployments/{id of etl/nightly}/create_flow_run" in result.stdout
    assert '"idempotency_key": "ts-' in result.stdout


def test_event_socket_url_follows_the_api_url() -> None:
    assert events_url("http://127.0.0.1:4200/api") == "ws://127.0.0.1:4200/api/events/out"
    assert events_url(CLOUD_API) == "wss://api.prefect.cloud/api/accounts/a1/workspaces/w2/events/out"


def test_event_filter_selects_one_run_from_now_on() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert flow_run_filter("r-1", now) == {
        "occurred": {"since": "2026-05-01T12:00:00+00:00", "until": "2026-05-02T12:00:00+00:00"},
        "event": {"prefix": ["prefect.flow-run."]},
        "resource": {"id": ["prefect.flow-run.r-1"]},
    }


def test_a_server_without_the_event_socket_is_unreachable_so_polling_takes_over(generic_server: Any) -> None:
    # A plain HTTP server answers the upgrade with 404, as a proxy without websockets would.
    with pytest.raises(UnreachableError, match="cannot open Prefect's event stream"):
        FlowRunEvents.open(generic_server.url, "r-1", token="t", tls=TlsOptions(None, None, None, False), timeout=5)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(UnreachableError, match="cannot open Prefect's event stream"):
        FlowRunEvents.open(
            f"http://127.0.0.1:{port}/api",
            "r-1",
            token="t",
            tls=TlsOptions(None, None, None, False),
            timeout=5,
        )


class EventSocket:
    """Prefect's /api/events/out over TLS, as src/prefect/server/api/events.py and
    src/prefect/server/utilities/subscriptions.py (3.8) speak it: auth, filter, then events."""

    def __init__(self, pki: Pki, events: list[dict[str, Any]]) -> None:
        from websockets.sync.server import serve

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        self.received: list[dict[str, Any]] = []
        self.events = events
        self.server = serve(self._handle, "127.0.0.1", 0, ssl=context, subprotocols=[Subprotocol("prefect")])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.api = f"https://127.0.0.1:{self.server.socket.getsockname()[1]}/api"

    def _handle(self, connection: Any) -> None:
        auth = json.loads(connection.recv(timeout=5))
        self.received.append(auth)
        if auth.get("token") != "user:pw":
            connection.close(code=1008, reason="Invalid token")
            return
        connection.send(json.dumps({"type": "auth_success"}))
        self.received.append(json.loads(connection.recv(timeout=5)))
        for event in self.events:
            connection.send(json.dumps({"type": "event", "event": event}))
        with contextlib.suppress(Exception):
            connection.recv(timeout=5)  # until the client closes

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def _state_event(run_id: str, name: str, state_type: str | None) -> dict[str, Any]:
    resource = {"prefect.resource.id": f"prefect.flow-run.{run_id}"}
    if state_type:
        resource |= {"prefect.state-type": state_type, "prefect.state-name": name}
    return {"event": f"prefect.flow-run.{name}", "resource": resource}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if not openssl_binary():
        pytest.skip("openssl is not installed")
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_event_stream_over_tls_authenticates_filters_and_reads_state_changes(pki: Pki) -> None:
    events = [
        _state_event("r-1", "Running", "RUNNING"),
        _state_event("r-1", "heartbeat", None),  # no state: skipped
        _state_event("r-2", "Failed", "FAILED"),  # another run: skipped
        _state_event("r-1", "Completed", "COMPLETED"),
    ]
    server = EventSocket(pki, events)
    try:
        tls = TlsOptions(str(pki.ca_cert), None, None, False)
        stream = FlowRunEvents.open(server.api, "r-1", token="user:pw", tls=tls, timeout=5)
        try:
            seen = [stream.next_state(2.0) for _ in range(4)]
        finally:
            stream.close()
        assert seen == [("RUNNING", "Running"), None, None, ("COMPLETED", "Completed")]
        auth, subscription = server.received
        assert auth == {"type": "auth", "token": "user:pw"}
        assert subscription["type"] == "filter" and subscription["backfill"] is False
        assert subscription["filter"]["resource"] == {"id": ["prefect.flow-run.r-1"]}
        # The wrong CA and the wrong token both leave waiting to polling.
        other = TlsOptions(str(pki.other_ca_cert), None, None, False)
        with pytest.raises(UnreachableError, match="cannot open"):
            FlowRunEvents.open(server.api, "r-1", token="user:pw", tls=other, timeout=5)
        with pytest.raises(UnreachableError, match="event stream closed"):
            FlowRunEvents.open(server.api, "r-1", token="nope", tls=tls, timeout=5)
    finally:
        server.close()
