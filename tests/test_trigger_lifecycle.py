"""One trigger's lifecycle in-process, with an in-memory platform and a fake clock."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from trigger_schedule import trigger_lifecycle
from trigger_schedule.clock import FakeClock
from trigger_schedule.console import Console
from trigger_schedule.context import DeployInputs, build_context
from trigger_schedule.plan import validate
from trigger_schedule.plan_waiter import run_alone
from trigger_schedule.platforms.base import (
    Platform,
    PlatformConfig,
    PreparedRequest,
    RunRef,
    RunState,
    RunStatus,
    TriggerOutcome,
    TriggerRequest,
)
from trigger_schedule.results import Decision, Status, TriggerResult


class FailsFirst(Platform):
    """Records each trigger request; the first run fails, the later ones succeed."""

    type_name = "in-memory"

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(
            PlatformConfig(name="m", type="in-memory", url="http://127.0.0.1:9"),
            None,
            clock,
        )  # type: ignore[arg-type]
        self.requests: list[TriggerRequest] = []

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        self.requests.append(request)
        return TriggerOutcome(RunRef(f"run-{len(self.requests)}"))

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        return RunStatus(RunState.FAILED, "failed") if run.run_id == "run-1" else RunStatus(RunState.SUCCEEDED, "ok")

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class LaterRequest(TriggerRequest):
    """A request with a field added after the retry code was written."""

    priority: str = "normal"


def run_with_retry(clock: FakeClock, platform: FailsFirst) -> TriggerResult:
    plan = validate(
        {
            "version": 1,
            "platforms": {"m": {"type": "generic", "url": "http://127.0.0.1:9"}},
            "triggers": [{"name": "sync", "job": "j", "retries": {"count": 1, "delay": "5s"}}],
        },
        "test-plan",
    )
    context = build_context(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_SHA": "b" * 40,
        },
        DeployInputs(environment="production", version="2.0.0"),
        {},
        cwd="/",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    trigger = plan.triggers[0]
    result = TriggerResult(trigger.name, trigger.job, trigger.platform)
    out = io.StringIO()
    console = Console("local", out=out, err=out, live=False)
    lifecycle = trigger_lifecycle.TriggerLifecycle(
        trigger,
        result,
        context=context,
        platform_of=lambda _name: platform,
        clock=clock,
        console=console,
        environ={},
    )
    run_alone(lifecycle.steps(), clock, console)
    return result


def test_a_retry_keeps_every_field_of_the_request_but_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def later(**fields: Any) -> LaterRequest:
        return LaterRequest(**fields, priority="high")

    monkeypatch.setattr(trigger_lifecycle, "TriggerRequest", later)
    clock = FakeClock()
    platform = FailsFirst(clock)
    result = run_with_retry(clock, platform)
    assert (result.status, result.decision, result.attempts) == (
        Status.SUCCEEDED,
        Decision.TRIGGERED,
        2,
    )
    first, retry = platform.requests
    assert retry.idempotency_key == first.idempotency_key + "-retry1"
    assert isinstance(retry, LaterRequest) and retry.priority == "high"
    assert dataclasses.replace(retry, idempotency_key=first.idempotency_key) == first
    assert first.provenance["ci.repository"] == "acme/shop"
    assert 5.0 in clock.sleeps  # the retry delay, on the injected clock


def test_result_values_are_the_words_the_json_carries() -> None:
    clock = FakeClock()
    public = run_with_retry(clock, FailsFirst(clock)).public()
    assert (public["status"], public["decision"]) == ("succeeded", "triggered")
    assert [a["status"] for a in public["attempt_runs"]] == ["failed", "succeeded"]
    assert json.loads(json.dumps(public))["status"] == "succeeded"
