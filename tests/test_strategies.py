"""Trigger strategies against real local servers: gate, delay, window, concurrency, retries,
compensation and notifications."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_runner import TOKEN, run_cli
from servers.harness import GenericScheduler
from servers.processes import serving
from test_runner import fast, run_plan
from trigger_schedule.clock import FakeClock
from trigger_schedule.errors import ExitCode
from trigger_schedule.window import Window

SERVERS = Path(__file__).parent / "servers"


@pytest.fixture
def health_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    args = ["--port-file", str(tmp_path / "port"), *getattr(request, "param", ["--healthy-after", "1.0"])]
    with serving(SERVERS / "health_app.py", args, [tmp_path / "port"]) as (port,):
        yield f"http://127.0.0.1:{port}/health"


def test_gate_waits_until_healthy(generic_server: GenericScheduler, health_url: str) -> None:
    gate = {"url": health_url, "json-pointer": "/status", "expect-value": "UP", "interval": "200ms", "timeout": "20s"}
    outcome, log = run_plan(generic_server, [fast(name="sync", job="instant", gate=gate)])
    assert outcome.exit_code == 0, log
    assert "health gate passed after" in log and "/status is 'UP'" in log
    assert "waiting for" in log  # it was unhealthy first
    assert len(generic_server.requests("trigger")) == 1


@pytest.mark.parametrize("health_url", [["--never"]], indirect=True)
def test_gate_never_healthy_sends_nothing(generic_server: GenericScheduler, health_url: str, tmp_path: Path) -> None:
    result = run_cli(
        "trigger",
        "--url",
        generic_server.url,
        "--job",
        "instant",
        "--result-file",
        "r.json",
        "--gate",
        json.dumps({"url": health_url, "interval": "200ms", "timeout": "1s"}),
        cwd=tmp_path,
    )
    assert result.returncode == ExitCode.GATE_FAILED == 7
    assert "was not healthy within 1s (last: HTTP 503); nothing was triggered" in result.stderr
    assert generic_server.requests("trigger") == []
    entry = json.loads((tmp_path / "r.json").read_text())["triggers"][0]
    assert (entry["decision"], entry["status"]) == ("gate-failed", "gate-failed")


def test_delay_uses_the_clock_and_then_triggers(generic_server: GenericScheduler) -> None:
    clock = FakeClock()
    outcome, log = run_plan(generic_server, [{"name": "later", "job": "instant", "delay": "2m"}], clock=clock)
    assert outcome.exit_code == 0
    assert clock.sleeps[0] == 120
    assert "waiting 2m00s before triggering" in log


def test_window_skip_wait_and_defer_validation(generic_server: GenericScheduler) -> None:
    # FakeClock starts 2026-01-01 00:00 UTC, a Thursday: 08:00 Shanghai.
    closed = {"start": "01:00", "end": "05:00", "timezone": "Asia/Shanghai"}
    outcome, log = run_plan(
        generic_server, [{"name": "w", "job": "instant", "window": {**closed, "outside": "skip"}}], clock=FakeClock()
    )
    assert outcome.results[0].decision == "skipped"
    assert "outside the window 01:00-05:00 Asia/Shanghai; it opens at 2026-01-01T17:00:00Z" in log
    clock = FakeClock()
    outcome, _ = run_plan(
        generic_server,
        [{"name": "w", "job": "instant", "timeout": "24h", "window": {**closed, "outside": "wait"}}],
        clock=clock,
    )
    assert outcome.exit_code == 0 and clock.sleeps[0] == 17 * 3600
    from trigger_schedule.plan import PlanInvalid

    with pytest.raises(PlanInvalid, match="platform type 'generic' cannot start a run at a later time"):
        run_plan(generic_server, [{"name": "w", "job": "instant", "window": {**closed, "outside": "defer"}}])


def test_window_arithmetic_across_midnight_and_weekdays() -> None:
    window = Window.from_plan({"start": "22:00", "end": "02:00", "timezone": "UTC", "weekdays": ["fri"]}, "w")
    friday_late = datetime(2026, 1, 2, 23, 30, tzinfo=timezone.utc)
    saturday_early = datetime(2026, 1, 3, 1, 30, tzinfo=timezone.utc)
    saturday_late = datetime(2026, 1, 3, 23, 0, tzinfo=timezone.utc)
    assert window.is_open(friday_late) and window.is_open(saturday_early)
    assert not window.is_open(saturday_late)
    assert window.next_opening(saturday_late) == datetime(2026, 1, 9, 22, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("policy", "decision", "cancels"), [("skip", "skipped", 0), ("cancel-previous", "triggered", 1)]
)
def test_concurrency_with_an_active_run(
    generic_server: GenericScheduler, policy: str, decision: str, cancels: int
) -> None:
    run_plan(generic_server, [{"name": "first", "job": "slow", "wait": False}])
    outcome, log = run_plan(generic_server, [{"name": "second", "job": "slow", "wait": False, "concurrency": policy}])
    assert outcome.results[0].decision == decision, log
    assert len(generic_server.requests("cancel")) == cancels
    if policy == "skip":
        assert "already has active run(s) run-1" in outcome.results[0].reason


def test_concurrency_wait_for_the_active_run(generic_server: GenericScheduler) -> None:
    generic_server.define_job("short", "success", 1.0)
    run_plan(generic_server, [{"name": "first", "job": "short", "wait": False}])
    outcome, log = run_plan(generic_server, [fast(name="second", job="short", concurrency="wait")])
    assert outcome.exit_code == 0
    assert "waiting for active run(s) run-1 to end" in log
    first_done = [r for r in generic_server.requests("status") if r["path"].endswith("/run-1")][-1]["time"]
    second_trigger = generic_server.requests("trigger")[-1]["time"]
    assert second_trigger >= first_done


def test_retries_then_compensation(generic_server: GenericScheduler) -> None:
    trigger = fast(
        name="sync",
        job="fail",
        retries={"count": 2, "delay": "10ms"},
        **{"on-failure": {"job": "instant", "params": {"rollbackTo": "{{ deploy.previous_version }}"}}},
    )
    outcome, log = run_plan(generic_server, [trigger])
    result = outcome.results[0]
    assert outcome.exit_code == 1  # the compensation does not hide the failure
    assert result.attempts == 3 and [a["status"] for a in result.attempt_runs] == ["failed"] * 3
    assert result.compensation is not None and result.compensation["status"] == "succeeded"
    bodies = [json.loads(r["body"]) for r in generic_server.requests("trigger")]
    assert [b["jobName"] for b in bodies] == ["fail", "fail", "fail", "instant"]
    assert bodies[-1]["parameters"] == {"rollbackTo": "1.9.0"}
    keys = [r["headers"]["Idempotency-Key"] for r in generic_server.requests("trigger")]
    assert len(set(keys)) == 4
    assert "starting the compensating job instant" in log


def test_retry_that_succeeds_exits_0(generic_server: GenericScheduler) -> None:
    generic_server.inject("status", [{"status": 200, "body": {"runId": "run-1", "status": "failed"}}])
    outcome, _ = run_plan(generic_server, [fast(name="sync", job="instant", retries={"count": 1, "delay": "10ms"})])
    assert outcome.exit_code == 0
    assert [a["status"] for a in outcome.results[0].attempt_runs] == ["failed", "succeeded"]


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    folder = tmp_path / "receivers"
    folder.mkdir()
    env = {"SMTP_PASSWORD": "smtp-Secret-77"}
    import os

    with serving(
        SERVERS / "receivers.py",
        ["--dir", str(folder)],
        [folder / "http.port", folder / "smtp.port"],
        env={**os.environ, **env},
    ) as (http_port, smtp_port):
        yield http_port, smtp_port, folder / "received.jsonl"


def test_notifications_reach_webhook_and_smtp_without_secrets(
    generic_server: GenericScheduler, receivers: tuple[int, int, Path], tmp_path: Path
) -> None:
    http_port, smtp_port, received = receivers
    notify = [
        {
            "on": ["failure"],
            "urls": [
                f"json://hook:${{HOOK_SECRET}}@127.0.0.1:{http_port}/alerts",
                f"mailto://ci:${{SMTP_PASSWORD}}@127.0.0.1:{smtp_port}?from=ci@localhost"
                "&to=oncall@localhost&mode=insecure",
            ],
        },
        {"on": ["success"], "urls": [f"json://127.0.0.1:{http_port}/never"]},
    ]
    plan = tmp_path / "plan.yml"
    plan.write_text(
        json.dumps(
            {
                "version": 1,
                "platforms": {"s": {"type": "generic", "url": generic_server.url}},
                "triggers": [{"name": "sync", "job": "fail", "poll-interval": "100ms", "notify": notify}],
            }
        )
    )
    env = {
        "HOOK_SECRET": "hook-Secret-99",
        "SMTP_PASSWORD": "smtp-Secret-77",
        "GITLAB_CI": "true",
        "CI_PIPELINE_URL": "https://gitlab.example/acme/shop/-/pipelines/42",
        "CI_PROJECT_PATH": "acme/shop",
    }
    result = run_cli("run", "-c", str(plan), "--result-file", "r.json", "--debug", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    deliveries = [json.loads(line) for line in received.read_text().splitlines()]
    assert sorted(d["kind"] for d in deliveries) == ["http", "smtp"]
    hook = next(d for d in deliveries if d["kind"] == "http")
    assert hook["path"] == "/alerts"
    assert hook["headers"]["Authorization"] == "Basic " + base64.b64encode(b"hook:hook-Secret-99").decode()
    message = json.loads(hook["body"])
    assert message["title"] == "[trigger-schedule] sync: failed"
    for text in ("job: fail (s)", "status: failed", "run: http://127.0.0.1", "pipeline: https://gitlab.example/"):
        assert text in message["message"]
    mail = next(d for d in deliveries if d["kind"] == "smtp")
    assert "sync: failed" in mail["body"] and "status: failed" in mail["body"]
    assert mail["headers"]["login"] == "ci" and mail["headers"]["to"] == ["oncall@localhost"]
    everything = (
        result.stdout
        + result.stderr
        + (tmp_path / "r.json").read_text()
        + received.read_text().replace(hook["headers"]["Authorization"], "")
    )
    for secret in ("hook-Secret-99", "smtp-Secret-77", TOKEN):
        assert secret not in everything
    entry = json.loads((tmp_path / "r.json").read_text())["triggers"][0]
    assert entry["notifications"] == [{"event": "failure", "delivered": True, "problems": []}]


def test_failing_notification_does_not_change_exit_code(generic_server: GenericScheduler, tmp_path: Path) -> None:
    outcome, log = run_plan(
        generic_server,
        [fast(name="ok", job="instant", notify=[{"on": ["success"], "urls": ["json://127.0.0.1:9/unreachable"]}])],
    )
    assert outcome.exit_code == 0
    assert outcome.results[0].notifications[0]["delivered"] is False
    assert "notification not delivered" in log
