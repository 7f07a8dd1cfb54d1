"""Waiting at scale on the stand-in Rundeck: no batch status read, a job's expected duration from its
succeeded executions."""

from __future__ import annotations

import statistics

from rundeck_client import Rundeck
from servers.admin import wait_until
from test_rundeck import _platform
from trigger_schedule.platforms.base import TriggerRequest
from trigger_schedule.platforms.rundeck import RundeckPlatform


def test_no_batch_status_read() -> None:
    assert RundeckPlatform.batch_status_limit == 0  # ExecutionQuery has no execution-id filter


def test_expected_duration_is_the_median_of_succeeded_executions(rundeck: Rundeck) -> None:
    ok = rundeck.job("6a0c4c5e-7d7a-4c1e-9d4f-2a1b3c4d5e60", duration=0.6, multiple=True)
    broken = rundeck.job("6a0c4c5e-7d7a-4c1e-9d4f-2a1b3c4d5e61", duration=0.1, outcome="failed", multiple=True)
    platform = _platform(rundeck)
    ids = [platform.trigger(TriggerRequest(job=ok, params={}, idempotency_key=f"k{i}"), None).run for i in range(3)]
    ids.append(platform.trigger(TriggerRequest(job=broken, params={}, idempotency_key="kb"), None).run)
    wait_until(lambda: all(rundeck.execution(run.run_id)["status"] in ("succeeded", "failed") for run in ids), 10)
    spans = [
        (e["date-ended"]["unixtime"] - e["date-started"]["unixtime"]) / 1000
        for e in (rundeck.execution(run.run_id) for run in ids[:3])
    ]
    expected = platform.expected_duration(ok, None)
    assert expected == statistics.median(spans)
    before = len(rundeck.requests())
    assert platform.expected_duration(ok, None) == expected and len(rundeck.requests()) == before  # cached
    assert platform.expected_duration(broken, None) is None  # never succeeded
    assert platform.expected_duration("00000000-0000-0000-0000-000000000000", None) is None  # unknown: no failure
