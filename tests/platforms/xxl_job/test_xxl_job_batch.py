"""Waiting at scale on the stand-in XXL-JOB admin (2.4.2, 3.2.0, 3.3.0): the runs of one job from one page of
its logs, a job's expected duration from its successful logs."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from servers.admin import wait_until
from test_xxl_job import platform, request
from trigger_schedule.platforms.base import RunRef, RunState


def _handled(xxl: Any, run: RunRef) -> bool:
    return any(f"{log['jobId']}:{log['id']}" == run.run_id and log.get("handleCode") for log in xxl.logs())


def _page_lists(xxl: Any) -> int:
    return sum(1 for r in xxl.requests() if str(r.get("path", "")).endswith("/joblog/pageList"))


def test_status_many_reads_one_jobs_runs_as_status_does_in_one_call(xxl: Any) -> None:
    xxl.job(7, duration=1.0)
    xxl.job(8, duration=0.1, outcome="fail")
    pf = platform(xxl)
    done, failed = pf.trigger(request(7, "b-1"), None).run, pf.trigger(request(8, "b-2"), None).run
    wait_until(lambda: _handled(xxl, done) and _handled(xxl, failed), 10)
    running = pf.trigger(request(7, "b-3"), None).run
    unknown = RunRef(run_id="7:999999", extra={"job": "7"})
    before = _page_lists(xxl)
    batch = pf.status_many([done, running, unknown, failed], None)
    assert _page_lists(xxl) - before == 1
    assert set(batch) == {done.run_id, running.run_id}  # job 8's run and the unknown log: left to status
    assert batch[done.run_id].state is RunState.SUCCEEDED and batch[running.run_id].state is RunState.RUNNING
    for run in (done, running):
        assert batch[run.run_id] == pf.status(run, None)
    assert pf.status_many([failed], None)[failed.run_id] == pf.status(failed, None)
    assert pf.status(failed, None).state is RunState.FAILED


def test_expected_duration_is_the_median_of_successful_logs(xxl: Any) -> None:
    xxl.job(7, duration=0.4)
    xxl.job(8, duration=0.1, outcome="fail")
    pf = platform(xxl)
    runs = [pf.trigger(request(7, f"d-{i}"), None).run for i in range(3)] + [pf.trigger(request(8, "d-f"), None).run]
    wait_until(lambda: all(_handled(xxl, run) for run in runs), 15)
    spans = [
        (datetime.fromisoformat(log["handleTime"]) - datetime.fromisoformat(log["triggerTime"])).total_seconds()
        for log in xxl.logs()
        if log["jobId"] == 7
    ]
    expected = pf.expected_duration("7", None)
    assert expected is not None and abs(expected - statistics.median(spans)) < 0.002
    before = len(xxl.requests())
    assert pf.expected_duration("7", None) == expected and len(xxl.requests()) == before  # cached
    assert pf.expected_duration("8", None) is None  # never succeeded
    assert pf.expected_duration("9", None) is None  # never ran
