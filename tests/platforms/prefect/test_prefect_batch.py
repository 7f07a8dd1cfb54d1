"""Waiting at scale on a real Prefect 3: many flow runs' statuses in one filter call, a deployment's expected
duration from its completed runs."""

from __future__ import annotations

import statistics
import uuid
from pathlib import Path
from typing import Any

from prefect_server import PASSWORD, USER, PrefectServer
from servers.batch import check_status_many
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.prefect import PrefectPlatform

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _platform(server: PrefectServer) -> PrefectPlatform:
    config = PlatformConfig(
        name="pf", type="prefect", url=server.url, auth_type="basic", username=USER, password=PASSWORD
    )
    return PrefectPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())


def _start(platform: PrefectPlatform, job: str, **params: Any) -> RunRef:
    return platform.trigger(TriggerRequest(job=job, params=params, idempotency_key=uuid.uuid4().hex), None).run


def test_status_many_reads_each_run_as_status_does_in_one_call(prefect_server: PrefectServer, tmp_path: Path) -> None:
    platform = _platform(prefect_server)
    completed = _start(platform, "record/ci", out=str(tmp_path / "out.json"))
    failed = _start(platform, "fail/ci")
    for run in (completed, failed):
        assert prefect_server.wait_for_state(run.run_id, FINAL, timeout=150)["state_type"] in FINAL
    slow = _start(platform, "slow/ci", seconds=120)
    finished = [(completed, RunState.SUCCEEDED), (failed, RunState.FAILED)]
    check_status_many(platform, finished, slow, RunRef(run_id=str(uuid.uuid4())), lambda: platform.http.calls)
    platform.cancel(slow)


def test_expected_duration_is_the_median_of_completed_runs(prefect_server: PrefectServer, tmp_path: Path) -> None:
    platform = _platform(prefect_server)
    for index in range(2):
        run = _start(platform, "record/ci", out=str(tmp_path / f"{index}.json"))
        assert prefect_server.wait_for_state(run.run_id, FINAL, timeout=150)["state_type"] == "COMPLETED"
    completed = [run for run in prefect_server.runs_of("record/ci") if run["state_type"] == "COMPLETED"]
    newest = sorted(completed, key=lambda run: run["end_time"], reverse=True)[:10]
    expected = platform.expected_duration("record/ci", None)
    assert expected is not None and 0 < expected < 150
    assert abs(expected - statistics.median(float(run["total_run_time"]) for run in newest)) < 0.01
    calls = platform.http.calls
    assert platform.expected_duration("record/ci", None) == expected and platform.http.calls == calls  # cached


def test_expected_duration_is_none_without_history_or_on_error(prefect_server: PrefectServer) -> None:
    platform = _platform(prefect_server)
    assert platform.expected_duration("fail/ci", None) is None  # it never completes
    assert platform.expected_duration("record/no-such-deployment", None) is None  # a 404: no failure
