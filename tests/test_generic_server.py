"""The generic scheduler test server, exercised over real HTTP with the standard library only."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, Optional

import pytest
from servers.harness import SERVER_SCRIPT, GenericScheduler

TIMEOUT_S = 5.0


@dataclass
class Reply:
    status: int
    headers: Message
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw.decode("utf-8"))


def call(
    server: GenericScheduler,
    method: str,
    path: str,
    *,
    payload: Any = None,
    raw: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
    token: Optional[str] = "",
) -> Reply:
    """One request; token "" means the server's current token, None means no Authorization header."""
    data = raw if raw is not None else None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(server.url + path, data=data, method=method)
    if payload is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token or server.token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.headers, err.read())


def trigger(
    server: GenericScheduler,
    job: str,
    parameters: Optional[dict[str, Any]] = None,
    headers: Optional[dict[str, str]] = None,
) -> Reply:
    return call(
        server,
        "POST",
        "/v1/jobs/trigger",
        payload={"jobName": job, "parameters": parameters or {}},
        headers=headers,
    )


def wait_for_terminal(server: GenericScheduler, run_id: str, limit_s: float = 3.0) -> list[str]:
    """Poll the run until it leaves queued/running; returns every distinct status seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + limit_s
    for _ in range(int(limit_s / 0.05) + 1):
        reply = call(server, "GET", f"/v1/jobs/runs/{run_id}")
        assert reply.status == 200, reply.raw
        status = reply.json["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status not in ("queued", "running") or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return seen


def signed_headers(secret: str, body: bytes, timestamp: Optional[int] = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Trigger-Schedule-Timestamp": str(ts),
        "X-Trigger-Schedule-Signature": f"sha256={digest}",
    }


# -- auth -----------------------------------------------------------------------------------


def test_healthz_needs_no_auth(generic_server: GenericScheduler) -> None:
    reply = call(generic_server, "GET", "/healthz", token=None)
    assert (reply.status, reply.json) == (200, {"ok": True})
    assert generic_server.requests() == []


def test_missing_or_malformed_authorization_is_401(generic_server: GenericScheduler) -> None:
    missing = call(generic_server, "POST", "/v1/jobs/trigger", payload={"jobName": "ok", "parameters": {}}, token=None)
    assert missing.status == 401
    assert "error" in missing.json
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    basic = call(
        generic_server,
        "GET",
        "/v1/jobs/runs/run-1",
        token=None,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )
    assert basic.status == 401
    assert call(generic_server, "GET", "/v1/jobs/runs?idempotencyKey=k", token=None).status == 401


def test_wrong_token_is_403_and_creates_nothing(generic_server: GenericScheduler) -> None:
    reply = call(
        generic_server,
        "POST",
        "/v1/jobs/trigger",
        payload={"jobName": "ok", "parameters": {}},
        token="not-the-token",
    )
    assert reply.status == 403
    assert isinstance(reply.json["error"], str)
    assert call(generic_server, "GET", "/v1/jobs/runs/run-1").status == 404


def test_configured_token_replaces_the_old_one(generic_server: GenericScheduler) -> None:
    generic_server.configure(token="rotated")
    assert call(generic_server, "GET", "/v1/jobs/runs?idempotencyKey=x", token="test-token").status == 403
    assert call(generic_server, "GET", "/v1/jobs/runs?idempotencyKey=x", token="rotated").status == 200


# -- trigger --------------------------------------------------------------------------------


def test_trigger_creates_numbered_queued_runs(generic_server: GenericScheduler) -> None:
    first = trigger(generic_server, "data-sync-after-deployment", {"env": "prod"})
    second = trigger(generic_server, "cache-refresh")
    assert first.status == 201
    assert first.json == {
        "runId": "run-1",
        "status": "queued",
        "runUrl": f"{generic_server.url}/ui/runs/run-1",
    }
    assert first.headers.get("Idempotent-Replayed") is None
    assert (second.status, second.json["runId"]) == (201, "run-2")
    status = call(generic_server, "GET", "/v1/jobs/runs/run-1").json
    assert status["jobName"] == "data-sync-after-deployment"
    assert status["parameters"] == {"env": "prod"}
    assert status["runUrl"] == generic_server.run_url("run-1")


def test_idempotency_key_replays_the_same_run(generic_server: GenericScheduler) -> None:
    key = {"Idempotency-Key": "deploy-42/data-sync"}
    first = trigger(generic_server, "ok", {"n": 1}, headers=key)
    replay = trigger(generic_server, "ok", {"n": 1}, headers=key)
    other = trigger(generic_server, "ok", {"n": 1}, headers={"Idempotency-Key": "another"})
    assert first.status == 201
    assert replay.status == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json["runId"] == first.json["runId"] == "run-1"
    assert replay.json["runUrl"] == first.json["runUrl"]
    assert other.status == 201 and other.json["runId"] == "run-2"

    found = call(generic_server, "GET", "/v1/jobs/runs?idempotencyKey=deploy-42%2Fdata-sync")
    assert found.status == 200
    assert [run["runId"] for run in found.json["runs"]] == ["run-1"]
    none = call(generic_server, "GET", "/v1/jobs/runs?idempotencyKey=never-used")
    assert (none.status, none.json) == (200, {"runs": []})


def test_ok_goes_queued_running_success(generic_server: GenericScheduler) -> None:
    started = time.monotonic()
    run_id = trigger(generic_server, "ok").json["runId"]
    seen = wait_for_terminal(generic_server, run_id)
    elapsed = time.monotonic() - started
    assert seen[-1] == "success"
    assert "running" in seen
    assert set(seen) <= {"queued", "running", "success"}
    assert seen.index("running") < seen.index("success")
    assert 0.55 <= elapsed < 3.0


def test_fail_ends_failed(generic_server: GenericScheduler) -> None:
    run_id = trigger(generic_server, "fail").json["runId"]
    assert wait_for_terminal(generic_server, run_id)[-1] == "failed"


def test_instant_is_terminal_on_first_read(generic_server: GenericScheduler) -> None:
    run_id = trigger(generic_server, "instant").json["runId"]
    assert call(generic_server, "GET", f"/v1/jobs/runs/{run_id}").json["status"] == "succeeded"


def test_defined_job_uses_its_outcome_and_status_word(generic_server: GenericScheduler) -> None:
    generic_server.define_job("flaky-etl", "failed", 0.1, status_word="ERRORED")
    generic_server.define_job("ok", "cancelled", 0.0)
    etl = trigger(generic_server, "flaky-etl").json["runId"]
    ok = trigger(generic_server, "ok").json["runId"]
    assert wait_for_terminal(generic_server, etl)[-1] == "ERRORED"
    assert wait_for_terminal(generic_server, ok) == ["cancelled"]


def test_unknown_job_is_404(generic_server: GenericScheduler) -> None:
    reply = trigger(generic_server, "no-such-job")
    assert reply.status == 404
    assert reply.json["error"].startswith("unknown job")
    assert "no-such-job" in reply.json["error"]


def test_wrong_content_type_is_415(generic_server: GenericScheduler) -> None:
    body = json.dumps({"jobName": "ok", "parameters": {}}).encode()
    reply = call(generic_server, "POST", "/v1/jobs/trigger", raw=body, headers={"Content-Type": "text/plain"})
    assert reply.status == 415
    assert "application/json" in reply.json["error"]
    charset = call(
        generic_server,
        "POST",
        "/v1/jobs/trigger",
        raw=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert charset.status == 201


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"parameters": {}}', "jobName"),
        (b'{"jobName": 7, "parameters": {}}', "jobName"),
        (b'{"jobName": "ok"}', "parameters"),
        (b'{"jobName": "ok", "parameters": [1]}', "parameters"),
    ],
)
def test_malformed_trigger_body_is_400(generic_server: GenericScheduler, body: bytes, fragment: str) -> None:
    reply = call(generic_server, "POST", "/v1/jobs/trigger", raw=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert fragment in reply.json["error"]


def test_unknown_run_is_404(generic_server: GenericScheduler) -> None:
    reply = call(generic_server, "GET", "/v1/jobs/runs/run-999")
    assert reply.status == 404
    assert "run-999" in reply.json["error"]


# -- faults ---------------------------------------------------------------------------------


def test_injected_503_then_normal_handling(generic_server: GenericScheduler) -> None:
    generic_server.inject("trigger", [{"status": 503}, {"status": 429, "retry_after": "1"}])
    first = trigger(generic_server, "ok")
    second = trigger(generic_server, "ok")
    third = trigger(generic_server, "ok")
    assert first.status == 503
    assert "error" in first.json
    assert second.status == 429
    assert second.headers["Retry-After"] == "1"
    assert (third.status, third.json["runId"]) == (201, "run-1")
    assert len(generic_server.requests("trigger")) == 3


def test_faults_only_hit_their_endpoint(generic_server: GenericScheduler) -> None:
    generic_server.inject("status", [{"status": 500, "body": {"error": "boom"}}])
    run_id = trigger(generic_server, "instant").json["runId"]
    failed = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}")
    assert (failed.status, failed.json) == (500, {"error": "boom"})
    assert call(generic_server, "GET", f"/v1/jobs/runs/{run_id}").status == 200


def test_reset_fault_drops_the_connection(generic_server: GenericScheduler) -> None:
    generic_server.inject("trigger", [{"reset": True}])
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        trigger(generic_server, "ok", {"attempt": 1})
    retried = trigger(generic_server, "ok", {"attempt": 2})
    assert (retried.status, retried.json["runId"]) == (201, "run-1")
    recorded = generic_server.requests("trigger")
    assert [json.loads(entry["body"])["parameters"]["attempt"] for entry in recorded] == [1, 2]


# -- signing --------------------------------------------------------------------------------


def test_signed_trigger_accepted_and_bad_signatures_rejected(generic_server: GenericScheduler) -> None:
    secret = "whsec-test"
    generic_server.configure(signing_secret=secret)
    body = json.dumps({"jobName": "ok", "parameters": {"x": 1}}).encode()

    def post(headers: dict[str, str]) -> Reply:
        return call(generic_server, "POST", "/v1/jobs/trigger", raw=body, headers=headers)

    good = post(signed_headers(secret, body))
    assert (good.status, good.json["runId"]) == (201, "run-1")

    unsigned = post({"Content-Type": "application/json"})
    assert unsigned.status == 401
    wrong = post(signed_headers("some-other-secret", body))
    assert wrong.status == 401
    assert "signature" in wrong.json["error"].lower()
    tampered_body = body.replace(b'"x": 1', b'"x": 2')
    tampered = call(
        generic_server,
        "POST",
        "/v1/jobs/trigger",
        raw=tampered_body,
        headers=signed_headers(secret, body),
    )
    assert tampered.status == 401
    stale_ts = int(time.time()) - 301
    stale = post(signed_headers(secret, body, timestamp=stale_ts))
    assert stale.status == 401
    assert "stale" in stale.json["error"]
    future = post(signed_headers(secret, body, timestamp=int(time.time()) + 400))
    assert future.status == 401
    assert call(generic_server, "GET", "/v1/jobs/runs/run-2").status == 404

    generic_server.configure(signing_secret=None)
    assert post({"Content-Type": "application/json"}).status == 201


def test_signing_secret_and_token_from_start_arguments() -> None:
    with GenericScheduler.start(token="tok-2", signing_secret="s3cret") as server:
        body = json.dumps({"jobName": "instant", "parameters": {}}).encode()
        assert call(server, "POST", "/v1/jobs/trigger", raw=body, token="test-token").status == 403
        unsigned = call(server, "POST", "/v1/jobs/trigger", raw=body, headers={"Content-Type": "application/json"})
        assert unsigned.status == 401
        signed = call(server, "POST", "/v1/jobs/trigger", raw=body, headers=signed_headers("s3cret", body))
        assert signed.status == 201
        # reset() keeps the start-up credentials rather than dropping to defaults.
        server.reset()
        assert server.token == "tok-2"
        again = call(server, "POST", "/v1/jobs/trigger", raw=body, headers=signed_headers("s3cret", body))
        assert (again.status, again.json["runId"]) == (201, "run-1")
        assert f"listening on {server.url}" in server.stderr()
        process = server.process
    assert process.returncode == 0


def test_command_line_port_file_env_token_and_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    env = dict(os.environ, GENERIC_SCHEDULER_TOKEN="from-env")
    process = subprocess.Popen(
        [
            sys.executable,
            str(SERVER_SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(300):  # up to 15 s
            if port_file.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        port = int(port_file.read_text().strip())
        url = f"http://127.0.0.1:{port}/v1/jobs/runs?idempotencyKey=k"
        request = urllib.request.Request(url, headers={"Authorization": "Bearer from-env"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            assert json.loads(response.read()) == {"runs": []}
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert stderr.decode().splitlines()[0] == f"listening on http://127.0.0.1:{port}"
    assert list(tmp_path.iterdir()) == [port_file]


# -- logs and cancel ------------------------------------------------------------------------


def test_logs_follow_offsets(generic_server: GenericScheduler) -> None:
    run_id = trigger(generic_server, "ok", {"table": "orders"}).json["runId"]
    assert wait_for_terminal(generic_server, run_id)[-1] == "success"
    full = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs?offset=0").json
    assert full["content"] == 'starting ok\nparameters: {"table": "orders"}\nfinished: success\n'
    assert full["nextOffset"] == len(full["content"])

    tail_from = len("starting ok\n")
    tail = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs?offset={tail_from}").json
    assert tail["content"] == full["content"][tail_from:]
    assert tail["nextOffset"] == full["nextOffset"]

    done = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs?offset={full['nextOffset']}").json
    assert done == {"content": "", "nextOffset": full["nextOffset"]}
    bad = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs?offset=-1")
    assert bad.status == 400


def test_logs_grow_while_running(generic_server: GenericScheduler) -> None:
    generic_server.define_job("medium", "success", 0.8)
    run_id = trigger(generic_server, "medium").json["runId"]
    time.sleep(0.3)
    running = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs?offset=0").json
    assert running["content"].startswith("starting medium\n")
    assert "finished" not in running["content"]
    wait_for_terminal(generic_server, run_id)
    rest = call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs?offset={running['nextOffset']}").json
    assert rest["content"] == "finished: success\n"


def test_cancel_slow_run(generic_server: GenericScheduler) -> None:
    run_id = trigger(generic_server, "slow").json["runId"]
    time.sleep(0.15)
    assert call(generic_server, "GET", f"/v1/jobs/runs/{run_id}").json["status"] == "running"
    cancelled = call(generic_server, "POST", f"/v1/jobs/runs/{run_id}/cancel")
    assert (cancelled.status, cancelled.json) == (202, {"runId": run_id, "status": "cancelled"})
    assert call(generic_server, "GET", f"/v1/jobs/runs/{run_id}").json["status"] == "cancelled"
    assert call(generic_server, "GET", f"/v1/jobs/runs/{run_id}/logs").json["content"].endswith("finished: cancelled\n")
    again = call(generic_server, "POST", f"/v1/jobs/runs/{run_id}/cancel")
    assert again.status == 409
    assert "cancelled" in again.json["error"]
    assert call(generic_server, "POST", "/v1/jobs/runs/run-404/cancel").status == 404


def test_cancel_finished_run_is_409(generic_server: GenericScheduler) -> None:
    run_id = trigger(generic_server, "instant").json["runId"]
    reply = call(generic_server, "POST", f"/v1/jobs/runs/{run_id}/cancel")
    assert reply.status == 409
    assert "succeeded" in reply.json["error"]


# -- recording and reset --------------------------------------------------------------------


def test_requests_recorded_with_exact_body(generic_server: GenericScheduler) -> None:
    body = '{ "jobName":"ok",\n  "parameters": {"note": "café ✓", "n": 1.50} }'.encode()
    reply = call(
        generic_server,
        "POST",
        "/v1/jobs/trigger?dryRun=0",
        raw=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": "abc", "X-Custom": "yes"},
    )
    assert reply.status == 201
    call(generic_server, "GET", "/v1/jobs/runs?idempotencyKey=abc", token=None)
    call(generic_server, "GET", "/healthz", token=None)

    recorded = generic_server.requests()
    assert [(r["method"], r["path"], r["endpoint"]) for r in recorded] == [
        ("POST", "/v1/jobs/trigger", "trigger"),
        ("GET", "/v1/jobs/runs", "find"),
    ]
    sent = recorded[0]
    assert sent["body"].encode("utf-8", "surrogateescape") == body
    assert sent["query"] == {"dryRun": "0"}
    assert sent["headers"]["Authorization"] == f"Bearer {generic_server.token}"
    assert sent["headers"]["Idempotency-Key"] == "abc"
    assert sent["headers"]["X-Custom"] == "yes"
    assert sent["headers"]["Content-Length"] == str(len(body))
    assert abs(sent["time"] - time.time()) < 30
    assert recorded[1]["query"] == {"idempotencyKey": "abc"}
    assert recorded[1]["body"] == ""
    assert "Authorization" not in recorded[1]["headers"]
    assert [r["endpoint"] for r in generic_server.requests("find")] == ["find"]


def test_non_utf8_body_is_recorded_byte_exact(generic_server: GenericScheduler) -> None:
    body = b'{"jobName": "ok", "parameters": {}}\xff\xfe'
    reply = call(generic_server, "POST", "/v1/jobs/trigger", raw=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert generic_server.requests("trigger")[0]["body"].encode("utf-8", "surrogateescape") == body


def test_reset_forgets_runs_requests_faults_and_jobs(generic_server: GenericScheduler) -> None:
    generic_server.define_job("custom", "success", 0.0)
    assert trigger(generic_server, "custom").status == 201
    generic_server.inject("status", [{"status": 503}])
    generic_server.reset()
    assert generic_server.requests() == []
    assert call(generic_server, "GET", "/v1/jobs/runs/run-1").status == 404
    assert trigger(generic_server, "custom").status == 404
    assert trigger(generic_server, "instant").json["runId"] == "run-1"


def test_admin_rejects_bad_definitions(generic_server: GenericScheduler) -> None:
    with pytest.raises(RuntimeError, match="HTTP 400"):
        generic_server.inject("nowhere", [{"status": 500}])
    with pytest.raises(RuntimeError, match="HTTP 400"):
        generic_server.inject("trigger", [{"status": "oops"}])
    with pytest.raises(RuntimeError, match="HTTP 400"):
        generic_server.define_job("x", "success", -1)
    assert trigger(generic_server, "ok").status == 201


def test_temp_dir_is_removed_on_stop() -> None:
    server = GenericScheduler.start()
    workdir = server._workdir
    assert workdir.is_dir()
    assert workdir.parent == Path(tempfile.gettempdir())
    assert server.stop() == 0
    assert not workdir.exists()
    assert server.stop() == 0
