"""Waiting at scale on real Airflow 3 and 2: many runs' statuses in one batch list, a DAG's expected duration."""

from __future__ import annotations

import statistics
import uuid
from datetime import datetime
from typing import Any

from airflow_harness import AirflowServer
from servers.batch import check_status_many
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.airflow import AirflowPlatform
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest

FINAL = {"success", "failed"}


def _platform(server: AirflowServer) -> AirflowPlatform:
    config = PlatformConfig(
        name="af", type="airflow", url=server.url, auth_type="basic", username="admin", password="admin"
    )
    return AirflowPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())


def _start(platform: AirflowPlatform, dag_id: str, **conf: Any) -> RunRef:
    request = TriggerRequest(job=dag_id, params=conf, idempotency_key=f"b-{uuid.uuid4().hex}")
    return platform.trigger(request, None).run


def _seconds(run: dict[str, Any]) -> float:
    start = datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))
    return (datetime.fromisoformat(run["end_date"].replace("Z", "+00:00")) - start).total_seconds()


def test_status_many_reads_each_run_as_status_does_in_one_call(airflow: AirflowServer) -> None:
    platform = _platform(airflow)
    succeeded, failed = _start(platform, "ts_success"), _start(platform, "ts_fail")
    for run in (succeeded, failed):
        assert airflow.wait_run_state(str(run.extra["dag_id"]), run.run_id, FINAL, timeout=120)["state"] in FINAL
    slow = _start(platform, "ts_slow", seconds=60)  # after them: Airflow 2 here runs one task at a time
    unknown = RunRef(run_id=f"ci__unknown-{uuid.uuid4().hex}", extra={"dag_id": "ts_success"})
    finished = [(succeeded, RunState.SUCCEEDED), (failed, RunState.FAILED)]
    check_status_many(platform, finished, slow, unknown, lambda: platform.http.calls)
    platform.cancel(slow)


def test_expected_duration_is_the_median_of_recent_successful_runs(airflow: AirflowServer) -> None:
    platform = _platform(airflow)
    for run in [_start(platform, "ts_success") for _ in range(3)]:
        assert airflow.wait_run_state("ts_success", run.run_id, FINAL, timeout=120)["state"] == "success"
    recorded = [run for run in airflow.list_runs("ts_success") if run["state"] == "success"]
    newest = sorted(recorded, key=lambda run: run["end_date"], reverse=True)[:10]
    expected = platform.expected_duration("ts_success", None)
    assert expected is not None and 0 < expected < 120
    assert abs(expected - statistics.median(_seconds(run) for run in newest)) < 0.01
    calls = platform.http.calls
    assert platform.expected_duration("ts_success", None) == expected and platform.http.calls == calls  # cached


def test_expected_duration_is_none_without_history_or_on_error(airflow: AirflowServer) -> None:
    platform = _platform(airflow)
    assert platform.expected_duration("ts_fail", None) is None  # it never succeeds
    assert platform.expected_duration(f"no_such_dag_{uuid.uuid4().hex[:6]}", None) is None  # a 404: no failure
