"""Waiting at scale on a real Dagster: many runs' statuses in one `runsOrError`, a job's expected duration."""

from __future__ import annotations

import statistics
import uuid
from pathlib import Path
from typing import Any

from dagster_server import Dagster
from servers.batch import check_status_many
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.dagster import DagsterPlatform

FINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _platform(server: Dagster) -> DagsterPlatform:
    config = PlatformConfig(name="dg", type="dagster", url=server.url, auth_type="none")
    return DagsterPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())


def _start(platform: DagsterPlatform, job: str, params: dict[str, Any]) -> RunRef:
    return platform.trigger(TriggerRequest(job=job, params=params, idempotency_key=uuid.uuid4().hex), None).run


def _record(path: Path) -> dict[str, Any]:
    return {"ops": {"record_config": {"config": {"path": str(path)}}}}


def test_status_many_reads_each_run_as_status_does_in_one_call(dagster: Dagster, tmp_path: Path) -> None:
    platform = _platform(dagster)
    succeeded, failed = _start(platform, "record", _record(tmp_path / "o.json")), _start(platform, "fail", {})
    for run in (succeeded, failed):
        assert dagster.wait_status(run.run_id, FINAL, timeout=120) in FINAL
    slow = _start(platform, "slow", {"ops": {"nap": {"config": {"seconds": 60.0}}}})
    finished = [(succeeded, RunState.SUCCEEDED), (failed, RunState.FAILED)]
    check_status_many(platform, finished, slow, RunRef(run_id=str(uuid.uuid4())), lambda: platform.http.calls)
    platform.cancel(slow)


def test_expected_duration_is_the_median_of_recent_successful_runs(dagster: Dagster, tmp_path: Path) -> None:
    platform = _platform(dagster)
    for index in range(2):
        run = _start(platform, "record", _record(tmp_path / f"{index}.json"))
        assert dagster.wait_status(run.run_id, FINAL, timeout=120) == "SUCCESS"
    recorded = [run for run in dagster.runs(job="record") if run["status"] == "SUCCESS"][:10]  # newest first
    expected = platform.expected_duration("record", None)
    assert expected is not None and 0 < expected < 120
    assert abs(expected - statistics.median(run["endTime"] - run["startTime"] for run in recorded)) < 0.01
    calls = platform.http.calls
    assert platform.expected_duration("record", None) == expected and platform.http.calls == calls  # cached


def test_expected_duration_is_none_without_history(dagster: Dagster) -> None:
    platform = _platform(dagster)
    assert platform.expected_duration("fail", None) is None  # it never succeeds
    assert platform.expected_duration("no_such_job", None) is None
