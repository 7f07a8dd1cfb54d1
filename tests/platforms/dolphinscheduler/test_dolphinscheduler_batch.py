"""Waiting at scale on the stand-in DolphinScheduler (3.3 and 3.2): many instances' statuses from one page of
the project's instance list, a definition's expected duration from its SUCCESS instances."""

from __future__ import annotations

import statistics
import time

from cli_runner import TOKEN
from dolphin_standin_client import PROJECT, Dolphin
from servers.admin import wait_until
from servers.batch import check_status_many
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.dolphinscheduler import DolphinSchedulerPlatform

FINAL = {"SUCCESS", "FAILURE", "STOP"}


def _platform(ds: Dolphin) -> DolphinSchedulerPlatform:
    options = {"project-code": PROJECT, "api-version": ds.version}
    config = PlatformConfig(name="ds", type="dolphinscheduler", url=ds.api, token=TOKEN, options=options)
    return DolphinSchedulerPlatform(config, HttpClient(HttpOptions(max_attempts=1), SystemClock()), SystemClock())


def _start(platform: DolphinSchedulerPlatform, job: str, key: str) -> RunRef:
    return platform.trigger(TriggerRequest(job=job, params={}, idempotency_key=key), None).run


def _state(ds: Dolphin, instance: str) -> str:
    return next((str(i["state"]) for i in ds.instances() if str(i["id"]) == instance), "")


def test_status_many_reads_each_run_as_status_does_in_one_call(dolphin: Dolphin) -> None:
    dolphin.definition("8101", duration=0.1)
    dolphin.definition("8102", duration=0.1, outcome="failed")
    dolphin.definition("8103", duration=60)
    platform = _platform(dolphin)
    succeeded, failed, running = (_start(platform, code, f"k{code}") for code in ("8101", "8102", "8103"))
    wait_until(lambda: _state(dolphin, succeeded.run_id) in FINAL and _state(dolphin, failed.run_id) in FINAL, 10)
    unknown = RunRef(run_id="987654")
    before = len(dolphin.requests())
    finished = [(succeeded, RunState.SUCCEEDED), (failed, RunState.FAILED)]
    check_status_many(platform, finished, running, unknown, lambda: platform.http.calls)
    listed = dolphin.requests()[before]
    assert listed["method"] == "GET" and listed["path"].endswith("-instances")


def test_expected_duration_is_the_median_of_success_instances(dolphin: Dolphin) -> None:
    dolphin.definition("8201", duration=1.0)
    dolphin.definition("8202", duration=0.1, outcome="failed")
    platform = _platform(dolphin)
    runs = [_start(platform, "8201", f"d{i}") for i in range(3)] + [_start(platform, "8202", "df")]
    wait_until(lambda: all(_state(dolphin, run.run_id) in FINAL for run in runs), 15)
    spans = []
    for item in dolphin.instances():  # the server's own record, to the second as the list shows it
        if str(item["id"]) in {run.run_id for run in runs[:3]}:
            start, end = (time.mktime(time.strptime(item[k], "%Y-%m-%d %H:%M:%S")) for k in ("startTime", "endTime"))
            spans.append(end - start)
    expected = platform.expected_duration("8201", None)
    assert expected == statistics.median(spans) and 0 <= expected <= 3
    before = len(dolphin.requests())
    assert platform.expected_duration("8201", None) == expected and len(dolphin.requests()) == before  # cached
    assert platform.expected_duration("8202", None) is None  # no SUCCESS instance
    assert platform.expected_duration("8299", None) is None  # never ran
