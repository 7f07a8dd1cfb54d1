"""Plan execution in-process against the real generic server, with an injected clock where waiting matters."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
from cli_runner import TOKEN
from servers.harness import GenericScheduler
from trigger_schedule.clock import Clock, FakeClock, SystemClock
from trigger_schedule.console import Console
from trigger_schedule.context import DeployInputs, build_context
from trigger_schedule.plan import validate
from trigger_schedule.plan_runner import PlanRunner, RunOptions
from trigger_schedule.results import Outcome

ENV = {"TRIGGER_SCHEDULE_TOKEN": TOKEN, "SIGNING_SECRET": "sign-me-please"}


def make_plan(server: GenericScheduler, triggers: list[dict[str, Any]], **extra: Any) -> Any:
    platform: dict[str, Any] = {
        "type": "generic",
        "url": server.url,
        **extra.pop("platform", {}),
    }
    data = {"version": 1, "platforms": {"s": platform}, "triggers": triggers, **extra}
    return validate(data, "test-plan")


def run_plan(
    server: GenericScheduler,
    triggers: list[dict[str, Any]],
    *,
    clock: Clock | None = None,
    environment: str = "production",
    options: RunOptions | None = None,
    env: Mapping[str, str] = ENV,
    **extra: Any,
) -> tuple[Outcome, str]:
    plan = make_plan(server, triggers, **extra)
    context = build_context(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_SHA": "b" * 40,
        },
        DeployInputs(environment=environment, version="2.0.0", previous_version="1.9.0"),
        {},
        cwd="/",
        now=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    out = io.StringIO()
    console = Console("local", out=out, err=out, live=False)
    runner = PlanRunner(
        plan,
        context,
        clock=clock or SystemClock(),
        console=console,
        environ=env,
        options=options or RunOptions(),
    )
    return runner.run(), out.getvalue()


def fast(**trigger: Any) -> dict[str, Any]:
    return {"poll-interval": "50ms", "poll-max-interval": "100ms", **trigger}


def test_needs_order_and_rendered_params(generic_server: GenericScheduler) -> None:
    outcome, _ = run_plan(
        generic_server,
        [
            fast(
                name="sync",
                job="ok",
                params={"version": "{{ deploy.version }}", "n": "{{ 1 + 2 }}"},
            ),
            fast(name="cache", job="instant", needs=["sync"]),
            fast(name="check", job="instant", needs=["sync"]),
        ],
    )
    assert outcome.exit_code == 0
    sent = generic_server.requests("trigger")
    assert json.loads(sent[0]["body"]) == {
        "jobName": "ok",
        "parameters": {"version": "2.0.0", "n": 3},
    }
    # Both dependants were triggered only after the first run had succeeded.
    first_done = [r for r in generic_server.requests("status") if r["path"].endswith("run-1")][-1]["time"]
    assert all(r["time"] >= first_done for r in sent[1:])
    assert [r.status for r in outcome.results] == ["succeeded"] * 3


def test_skip_propagates_with_reason(generic_server: GenericScheduler) -> None:
    outcome, _ = run_plan(
        generic_server,
        [
            fast(name="migrate", job="ok", when={"environments": ["staging"]}),
            fast(name="after", job="ok", needs=["migrate"]),
        ],
    )
    assert outcome.exit_code == 0
    assert [r.decision for r in outcome.results] == ["skipped", "skipped"]
    assert "'production' does not match any of [staging]" in outcome.results[0].reason
    assert "skipped because 'migrate' was skipped" in outcome.results[1].reason
    assert generic_server.requests("trigger") == []
    assert outcome.status == "skipped"


def test_failed_dependency_is_not_started(generic_server: GenericScheduler) -> None:
    outcome, _ = run_plan(
        generic_server,
        [
            fast(name="sync", job="fail"),
            fast(name="after", job="ok", needs=["sync"]),
            fast(name="independent", job="instant"),
        ],
    )
    assert outcome.exit_code == 1
    assert [r.status for r in outcome.results] == ["failed", "not-started", "succeeded"]
    assert outcome.results[1].reason == "not started because 'sync' failed"
    assert {json.loads(r["body"])["jobName"] for r in generic_server.requests("trigger")} == {"fail", "instant"}


def test_max_parallel_one_runs_one_at_a_time(generic_server: GenericScheduler) -> None:
    generic_server.define_job("third", "success", 0.3)
    outcome, _ = run_plan(
        generic_server,
        [fast(name=f"t{i}", job="third") for i in range(3)],
        **{"max-parallel": 1},
    )
    assert outcome.exit_code == 0
    times = [r["time"] for r in generic_server.requests("trigger")]
    assert len(times) == 3
    assert all(b - a >= 0.3 for a, b in zip(times, times[1:]))


def test_timeout_with_injected_clock_backs_off_to_the_cap(
    generic_server: GenericScheduler,
) -> None:
    clock = FakeClock()
    outcome, _ = run_plan(
        generic_server,
        [
            {
                "name": "long",
                "job": "slow",
                "timeout": "10m",
                "poll-interval": "1s",
                "poll-max-interval": "15s",
            }
        ],
        clock=clock,
    )
    assert outcome.exit_code == 6
    assert outcome.results[0].status == "timed-out"
    assert "last state running" in outcome.results[0].reason
    polls = clock.sleeps
    assert sum(polls) == pytest.approx(600, abs=1e-6)
    assert polls[0] <= 1.0 and max(polls) <= 15.0
    # Jitter picks each wait in [step/2, step]; the floor is what keeps polls to about one per 10 s, not per second.
    floors = [min(15.0, 1.5**attempt) / 2 for attempt in range(len(polls))]
    assert all(wait >= floor for wait, floor in zip(polls[:-1], floors))  # the last wait is cut to the deadline
    # The long-poll requests come first (the fake clock does not move while the server holds them); then polling.
    polled = [r for r in generic_server.requests("status") if "wait" not in r["query"]]
    assert len(polled) == len(polls) <= 600 / 7.5 + 7  # 7 ramp-up polls before the cap
    assert generic_server.requests("cancel") == []


def test_timeout_cancel_policy(generic_server: GenericScheduler) -> None:
    outcome, _ = run_plan(
        generic_server,
        [{"name": "long", "job": "slow", "timeout": "30s", "on-timeout": "cancel"}],
        clock=FakeClock(),
    )
    assert outcome.exit_code == 6
    assert "run run-1 cancelled" in outcome.results[0].reason
    assert len(generic_server.requests("cancel")) == 1


def test_retry_after_is_honoured(generic_server: GenericScheduler) -> None:
    generic_server.inject("trigger", [{"status": 429, "retry_after": "7"}])
    clock = FakeClock()
    outcome, _ = run_plan(generic_server, [{"name": "now", "job": "instant"}], clock=clock)
    assert outcome.exit_code == 0
    assert clock.sleeps[0] >= 7
    assert len(generic_server.requests("trigger")) == 2


def test_connection_reset_is_retried_once_triggered(
    generic_server: GenericScheduler,
) -> None:
    generic_server.inject("trigger", [{"reset": True}])
    outcome, _ = run_plan(generic_server, [{"name": "now", "job": "instant"}], clock=FakeClock())
    assert outcome.exit_code == 0
    assert outcome.results[0].run_id == "run-1"
    assert len(generic_server.requests("trigger")) == 2


def test_5xx_after_retries_exits_5(generic_server: GenericScheduler) -> None:
    generic_server.inject("trigger", [{"status": 502}] * 3)
    outcome, _ = run_plan(
        generic_server,
        [{"name": "now", "job": "instant"}],
        clock=FakeClock(),
        platform={"max-attempts": 3},
    )
    assert outcome.exit_code == 5
    assert "HTTP 502 after 3 attempt(s)" in outcome.results[0].reason
    assert len(generic_server.requests("trigger")) == 3


def test_status_blip_while_waiting_is_survived(
    generic_server: GenericScheduler,
) -> None:
    generic_server.inject("status", [{"status": 503}] * 5)
    outcome, log = run_plan(
        generic_server,
        [{"name": "now", "job": "instant"}],
        clock=FakeClock(),
        platform={"max-attempts": 2},
    )
    assert outcome.exit_code == 0, log
    assert "status check failed" in log


def test_hmac_signing(generic_server: GenericScheduler) -> None:
    generic_server.configure(signing_secret="sign-me-please")
    signing = {"options": {"signing": {"secret-env": "SIGNING_SECRET"}}}
    outcome, _ = run_plan(generic_server, [{"name": "now", "job": "instant"}], platform=signing)
    assert outcome.exit_code == 0
    (sent,) = generic_server.requests("trigger")
    assert sent["headers"]["X-Trigger-Schedule-Signature"].startswith("sha256=")
    wrong = {**ENV, "SIGNING_SECRET": "not-the-secret"}
    outcome, _ = run_plan(
        generic_server,
        [{"name": "now", "job": "instant", "force-new": True}],
        platform=signing,
        env=wrong,
    )
    assert outcome.exit_code == 3


def test_dry_run_sends_nothing(generic_server: GenericScheduler) -> None:
    outcome, log = run_plan(
        generic_server,
        [{"name": "now", "job": "ok", "params": {"a": 1}}],
        options=RunOptions(dry_run=True),
    )
    assert outcome.exit_code == 0
    assert generic_server.requests() == []
    assert outcome.results[0].request["body"] == {
        "jobName": "ok",
        "parameters": {"a": 1},
    }
    assert outcome.results[0].request["headers"]["Authorization"] == "***"
    assert TOKEN not in log


def test_only_selects_triggers(generic_server: GenericScheduler) -> None:
    outcome, _ = run_plan(
        generic_server,
        [{"name": "a", "job": "instant"}, {"name": "b", "job": "instant"}],
        options=RunOptions(only=("b",)),
    )
    assert [r.name for r in outcome.results] == ["b"]
    assert len(generic_server.requests("trigger")) == 1
