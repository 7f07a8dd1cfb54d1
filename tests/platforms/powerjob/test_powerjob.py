"""The CLI end to end against a real PowerJob 4.3.9 (powerjob-server + worker, see powerjob_server.py).

Every check of what PowerJob did reads PowerJob's own record of the instance (/openApi/fetchInstanceInfo or
the console's instance list), not only the CLI's output.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from cli_runner import TOKEN, github_env, run_cli, start_cli
from powerjob_server import APP, PowerJob
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.powerjob import PowerJobPlatform

FAST = ("--poll-interval", "200ms", "--poll-max-interval", "500ms")
CLI_TIMEOUT_S = 120
ACTIVE = {1, 2, 3}


def trigger(pj: PowerJob, job: str, *extra: str, options: str = "{app: shop}") -> list[str]:
    return ["trigger", "--platform", "powerjob", "--url", pj.url, "--job", job, "--platform-options", options,
            *FAST, *extra]  # fmt: skip


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, cwd=cwd, timeout=CLI_TIMEOUT_S)


def platform(pj: PowerJob, **options: Any) -> PowerJobPlatform:
    config = PlatformConfig(name="pj", type="powerjob", url=pj.url, token=TOKEN, options={"app": APP, **options})
    return PowerJobPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())


def newest_instance(pj: PowerJob, job: str, known: set[str], timeout: float = 60) -> dict[str, Any]:
    """The first instance of `job` not in `known` once it is dispatched (status 2 or 3)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [i for i in pj.instances(job) if i["instanceId"] not in known and i["status"] in (2, 3)]
        if fresh:
            return fresh[0]
        time.sleep(0.2)
    raise AssertionError(f"no new instance of {job} was dispatched within {timeout} s")


def stop_quietly(pj: PowerJob, instance_id: str) -> None:
    """Ends a slow instance a test left running, so the next tests find the worker free."""
    if int(pj.instance(instance_id)["status"]) in ACTIVE:
        pj.call("/openApi/stopInstance", {"appId": pj.app_id, "instanceId": instance_id})


def test_success_passes_params_into_powerjobs_record_and_streams_its_result(powerjob: PowerJob, tmp_path: Path) -> None:
    env = github_env()
    args = trigger(powerjob, "echo", "--param", "environment=production", "--param", "batchSize=500")
    result = cli(*args, "--result-file", "r.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "succeeded" and entry["platform_state"] == "SUCCEED"
    record = powerjob.instance(entry["run_id"])
    assert record["status"] == 5 and record["jobId"] == powerjob.jobs["echo"] and record["appId"] == powerjob.app_id
    received = json.loads(record["instanceParams"])
    meta = received.pop("_triggerSchedule")
    assert received == {"environment": "production", "batchSize": "500"}
    assert meta["idempotencyKey"] == entry["idempotency_key"] and meta["sha"] == env["GITHUB_SHA"]
    assert meta["repository"] == "acme/shop" and meta["actor"] == "octocat"
    # The worker's processor got the same text (its result echoes it), and the CLI showed that result once.
    assert record["result"] == f"echo: {record['instanceParams']}"
    assert result.stdout.count(record["result"]) == 1, result.stdout
    assert f"dispatched to {record['taskTrackerAddress']}" in result.stdout
    # The processor's own log line (OmsLogger), read from the 4.x console's /instance/log, streamed once.
    assert result.stdout.count(f"INFO echo received {record['instanceParams']}") == 1, result.stdout
    printed = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert not [line for line in printed if TOKEN in line]


def test_failed_job_exits_1_with_its_result(powerjob: PowerJob, tmp_path: Path) -> None:
    result = cli(*trigger(powerjob, str(powerjob.jobs["fail"]), "--result-file", "f.json"), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    entry = result_of(tmp_path / "f.json")
    assert entry["platform_state"] == "FAILED" and powerjob.instance(entry["run_id"])["status"] == 4
    assert "boom: table missing" in result.stdout


def test_wrong_password_exits_3_and_is_never_printed(powerjob: PowerJob, tmp_path: Path) -> None:
    before = len(powerjob.instances("echo"))
    result = cli(*trigger(powerjob, "echo"), env={"TRIGGER_SCHEDULE_TOKEN": "wrong-password-123"}, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "password error" in result.stderr and "wrong-password-123" not in result.stdout + result.stderr
    assert len(powerjob.instances("echo")) == before


def test_basic_auth_gives_app_name_and_password(powerjob: PowerJob, tmp_path: Path) -> None:
    args = ["trigger", "--platform", "powerjob", "--url", powerjob.url, "--job", "echo", *FAST]
    env = {"PJ_APP": APP, "PJ_PASSWORD": TOKEN}
    auth = ("--auth-type", "basic", "--username-env", "PJ_APP", "--password-env", "PJ_PASSWORD")
    result = cli(*args, *auth, "--result-file", "b.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert powerjob.instance(result_of(tmp_path / "b.json")["run_id"])["status"] == 5


def test_unknown_job_app_and_another_apps_job_exit_4(powerjob: PowerJob, tmp_path: Path) -> None:
    by_id = cli(*trigger(powerjob, "999"), cwd=tmp_path)
    assert by_id.returncode == 4 and "can't find job by jobId: 999" in by_id.stderr, by_id.stderr
    by_name = cli(*trigger(powerjob, "no-such-job"), cwd=tmp_path)
    assert by_name.returncode == 4 and "no job named 'no-such-job'" in by_name.stderr, by_name.stderr
    foreign = cli(*trigger(powerjob, str(powerjob.other_app_job)), cwd=tmp_path)
    assert foreign.returncode == 4, foreign.stdout + foreign.stderr
    assert f"this job is not belong to the app whose appId is {powerjob.app_id}" in foreign.stderr
    no_app = cli(*trigger(powerjob, "echo", options="{app: nope}"), cwd=tmp_path)
    assert no_app.returncode == 4 and "can't find appInfo by appName: nope" in no_app.stderr, no_app.stderr


def test_timeout_exits_6_and_leaves_the_instance_running(powerjob: PowerJob, tmp_path: Path) -> None:
    result = cli(*trigger(powerjob, "slow", "--timeout", "3s", "--result-file", "t.json"), cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    run_id = result_of(tmp_path / "t.json")["run_id"]
    try:
        assert powerjob.instance(run_id)["status"] in ACTIVE
    finally:
        stop_quietly(powerjob, run_id)


def test_timeout_with_on_timeout_cancel_stops_the_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    args = trigger(powerjob, "slow", "--timeout", "3s", "--on-timeout", "cancel", "--result-file", "c.json")
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    run_id = result_of(tmp_path / "c.json")["run_id"]
    assert powerjob.wait_status(run_id, {10}, timeout=20) == 10
    assert powerjob.instance(run_id)["result"] == "stopped by user"


def test_sigterm_while_waiting_stops_the_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    known = {i["instanceId"] for i in powerjob.instances("slow")}
    process = start_cli(*trigger(powerjob, "slow", "--timeout", "2m"), cwd=tmp_path)
    try:
        instance = newest_instance(powerjob, "slow", known)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 143, output
    assert powerjob.wait_status(instance["instanceId"], {10}, timeout=20) == 10, output


def test_rerun_of_the_same_ci_context_adopts_the_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    """4.x's queryInstance cannot read a query (fixed in 5.1.1): the plug-in reads the console's instance list."""
    env = github_env()
    first = cli(*trigger(powerjob, "echo", "--result-file", "1.json"), env=env, cwd=tmp_path)
    second = cli(*trigger(powerjob, "echo", "--result-file", "2.json"), env=env, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout
    assert result_of(tmp_path / "2.json")["decision"] == "adopted", second.stdout
    run_id = result_of(tmp_path / "1.json")["run_id"]
    assert result_of(tmp_path / "2.json")["run_id"] == run_id
    key = result_of(tmp_path / "1.json")["idempotency_key"]
    mine = [i for i in powerjob.instances("echo") if key in powerjob.instance(i["instanceId"])["instanceParams"]]
    assert [i["instanceId"] for i in mine] == [run_id]
    other = cli(*trigger(powerjob, "echo", "--result-file", "3.json"), env=github_env(), cwd=tmp_path)
    assert other.returncode == 0 and result_of(tmp_path / "3.json")["run_id"] != run_id  # a new commit: a new run


def test_concurrency_skip_sees_the_active_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    started = cli(*trigger(powerjob, "slow", "--no-wait", "--result-file", "s.json"), env=github_env(), cwd=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    running = result_of(tmp_path / "s.json")["run_id"]
    try:
        args = trigger(powerjob, "slow", "--concurrency", "skip", "--result-file", "k.json")
        skipped = cli(*args, env=github_env(), cwd=tmp_path)
        assert skipped.returncode == 0, skipped.stdout + skipped.stderr
        assert result_of(tmp_path / "k.json")["status"] == "skipped"
        assert [i["instanceId"] for i in powerjob.instances("slow") if i["status"] in ACTIVE] == [running]
    finally:
        stop_quietly(powerjob, running)


def test_two_triggers_of_one_job_at_once_follow_their_own_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    def run(name: str) -> subprocess.CompletedProcess[str]:
        return cli(*trigger(powerjob, "echo", "--param", f"who={name}", "--result-file", name), env=github_env(),
                   cwd=tmp_path)  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, ["a.json", "b.json"]))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    for name in ("a.json", "b.json"):
        entry = result_of(tmp_path / name)
        params = json.loads(powerjob.instance(entry["run_id"])["instanceParams"])
        assert params["who"] == name and params["_triggerSchedule"]["idempotencyKey"] == entry["idempotency_key"]
    assert result_of(tmp_path / "a.json")["run_id"] != result_of(tmp_path / "b.json")["run_id"]


def test_deferred_start_sends_delay_and_cancels_in_the_time_wheel(powerjob: PowerJob) -> None:
    pj = platform(powerjob, adopt=False)
    start_at = SystemClock().now() + timedelta(seconds=60)
    outcome = pj.trigger(TriggerRequest("echo", {"a": 1}, "key-deferred", start_at=start_at), None)
    record = powerjob.instance(outcome.run.run_id)
    assert abs(record["expectedTriggerTime"] / 1000 - start_at.timestamp()) < 3
    status = pj.status(outcome.run, None)
    assert status.state is RunState.RUNNING and status.raw == "WAITING_DISPATCH"
    pj.cancel(outcome.run)
    assert powerjob.instance(outcome.run.run_id)["status"] == 9
    assert pj.status(outcome.run, None).state is RunState.CANCELLED
    pj.cancel(outcome.run)  # already final: no error


def test_stopping_a_finished_instance_is_not_an_error(powerjob: PowerJob) -> None:
    pj = platform(powerjob, adopt=False)
    outcome = pj.trigger(TriggerRequest("echo", {}, "key-finished"), None)
    assert powerjob.wait_status(outcome.run.run_id, {5}) == 5
    pj.cancel(RunRef(outcome.run.run_id))
    assert powerjob.instance(outcome.run.run_id)["status"] == 5
