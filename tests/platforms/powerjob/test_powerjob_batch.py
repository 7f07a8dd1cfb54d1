"""Waiting at scale on a real PowerJob 4.3.9: no batch status read, a job's expected duration from its
instances (the console list, to the second)."""

from __future__ import annotations

import statistics

from powerjob_server import PowerJob
from test_powerjob import platform
from trigger_schedule.platforms.base import TriggerRequest
from trigger_schedule.platforms.powerjob import PowerJobPlatform


def test_no_batch_status_read() -> None:
    assert PowerJobPlatform.batch_status_limit == 0  # InstancePageQuery has no instance-id list filter


def test_expected_duration_is_the_median_of_succeeded_instances(powerjob: PowerJob) -> None:
    pj = platform(powerjob)
    for index in range(3):
        run = pj.trigger(TriggerRequest(job="echo", params={"n": index}, idempotency_key=f"dur-{index}"), None).run
        assert powerjob.wait_status(run.run_id, {4, 5}, timeout=60) == 5
    succeeded = [item for item in powerjob.instances("echo") if int(item["status"]) == 5][:10]
    spans = []
    for item in succeeded:  # the server's own millisecond record of each
        info = powerjob.instance(item["instanceId"])
        spans.append((int(info["finishedTime"]) - int(info["actualTriggerTime"])) / 1000)
    expected = pj.expected_duration("echo", None)
    assert expected is not None and 0 <= expected < 60
    assert abs(expected - statistics.median(spans)) <= 1.0  # the console list's times are whole seconds
    calls = pj.http.calls
    assert pj.expected_duration("echo", None) == expected and pj.http.calls == calls  # cached


def test_expected_duration_is_none_without_history(powerjob: PowerJob) -> None:
    pj = platform(powerjob)
    assert pj.expected_duration("fail", None) is None  # it never succeeds
    assert pj.expected_duration("no-such-job", None) is None  # unknown: no failure
