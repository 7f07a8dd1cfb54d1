"""Waiting at scale on a real PowerJob 4.3.9 and the 5.1.1 stand-in: a batch status read by id range on 5.1.1
(none on 4.x), a job's expected duration from its instances (4.x: the console list, to the second; 5.1.1:
queryInstance, to the millisecond)."""

from __future__ import annotations

import statistics

from powerjob_server import PowerJob
from powerjob_standin_client import PowerJobStandin
from servers.batch import check_status_many
from test_powerjob import platform
from test_powerjob5_standin import platform as platform5
from test_powerjob5_standin import wait_for
from trigger_schedule.platforms.base import RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.powerjob import PowerJobPlatform


def test_4x_has_no_batch_read_and_is_then_read_one_instance_at_a_time(powerjob: PowerJob) -> None:
    pj = platform(powerjob)
    run = pj.trigger(TriggerRequest(job="echo", params={}, idempotency_key="batch-4x"), None).run
    assert PowerJobPlatform.batch_status_limit == 100 and pj.batch_status_limit == 100
    assert pj.status_many([run], None) == {}  # 4.3.9's queryInstance cannot read a query
    assert pj.batch_status_limit == 0  # so the waiter reads each instance with status from now on
    assert pj.status(run, None).state.value in ("running", "succeeded")


def test_status_many_reads_an_id_range_in_one_call_on_5(standin: PowerJobStandin) -> None:
    standin.job(11, "data-sync", duration=0.1)
    standin.job(12, "broken", duration=0.1, outcome="failed")
    standin.job(13, "long", duration=60)
    pj = platform5(standin)
    done, failed = (pj.trigger(TriggerRequest(job=j, params={}, idempotency_key=j), None).run for j in ("11", "12"))
    wait_for(lambda: pj.status(done, None).state.terminal and pj.status(failed, None).state.terminal, 10)
    running = pj.trigger(TriggerRequest(job="13", params={}, idempotency_key="13"), None).run
    unknown = RunRef(run_id=str(int(running.run_id) + 1000))
    finished = [(done, RunState.SUCCEEDED), (failed, RunState.FAILED)]
    check_status_many(pj, finished, running, unknown, lambda: pj.http.calls)


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


def test_expected_duration_from_query_instance_on_5(standin: PowerJobStandin) -> None:
    standin.job(11, "data-sync", duration=0.3)
    standin.job(12, "broken", duration=0.1, outcome="failed")
    pj = platform5(standin)
    runs = [pj.trigger(TriggerRequest(job="11", params={}, idempotency_key=f"q{i}"), None).run for i in range(3)]
    runs.append(pj.trigger(TriggerRequest(job="12", params={}, idempotency_key="qb"), None).run)
    wait_for(lambda: all(pj.status(run, None).state.terminal for run in runs), 10)
    spans = [(i["finishedTime"] - i["actualTriggerTime"]) / 1000 for i in standin.instances() if i["jobId"] == 11]
    expected = pj.expected_duration("11", None)
    assert expected is not None and abs(expected - statistics.median(spans)) < 0.001
    assert pj.expected_duration("12", None) is None  # never succeeded
