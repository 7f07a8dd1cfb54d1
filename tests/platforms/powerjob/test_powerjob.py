"""The CLI end to end against the stand-in powerjob-server OpenAPI (standin.py, following PowerJob v5.1.1)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cli_runner import TOKEN, github_env, run_cli, start_cli
from powerjob_standin_client import PowerJob
from trigger_schedule.clock import SystemClock
from trigger_schedule.errors import PlatformError, RejectedError
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.powerjob import PowerJobPlatform

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")
APP = '{"app": "shop"}'


def trigger(pj: PowerJob, job: str, *extra: str) -> list[str]:
    return [
        "trigger",
        "--platform",
        "powerjob",
        "--url",
        pj.url,
        "--job",
        job,
        "--platform-options",
        APP,
        *FAST,
        *extra,
    ]


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def calls(pj: PowerJob, name: str) -> list[dict[str, Any]]:
    return [r for r in pj.requests() if r["path"] == f"/openApi/{name}"]


def form(request: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request["body"]).items()}


def platform(pj: PowerJob, attempts: int = 1, **options: Any) -> PowerJobPlatform:
    config = PlatformConfig(name="pj", type="powerjob", url=pj.url, token=TOKEN, options={"app": "shop", **options})
    return PowerJobPlatform(config, HttpClient(HttpOptions(max_attempts=attempts), SystemClock()), SystemClock())


def wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_success_passes_params_and_provenance_with_token_auth(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(11, "data-sync", duration=0.5, result="synced 42 rows", record_dir=str(tmp_path))
    env = github_env()
    args = trigger(powerjob, "data-sync", "--param", "environment=production", "--param", "version=1.2.3")
    result = run_cli(*args, "--result-file", "r.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "succeeded" and entry["platform_state"] == "SUCCEED"
    received = json.loads(json.loads((tmp_path / f"{entry['run_id']}.json").read_text())["instanceParams"])
    meta = received.pop("_triggerSchedule")
    assert received == {"environment": "production", "version": "1.2.3"}
    assert meta["idempotencyKey"] == entry["idempotency_key"]
    assert meta["repository"] == "acme/shop" and meta["sha"] == env["GITHUB_SHA"] and meta["actor"] == "octocat"
    assert meta["pipeline_url"].startswith("https://github.com/acme/shop/actions/runs/1")
    (login,) = calls(powerjob, "authApp")
    assert json.loads(login["body"]) == {
        "appName": "shop",
        "encryptedPassword": hashlib.md5(TOKEN.encode()).hexdigest(),
        "encryptType": "md5",
    }
    (run,) = calls(powerjob, "runJob")
    assert run["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert run["headers"]["x-powerjob-app-id"] == "1" and run["headers"]["x-powerjob-access-token"]
    assert {k: v for k, v in form(run).items() if k != "instanceParams"} == {"appId": "1", "jobId": "11", "delay": "0"}
    # The job's name was resolved to its id through the app's job list; the name never reached runJob.
    assert len(calls(powerjob, "fetchAllJob")) == 1
    assert "synced 42 rows" in result.stdout and result.stdout.count("synced 42 rows") == 1
    assert "dispatched to 127.0.0.1:27777" in result.stdout
    printed = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert not [line for line in printed if TOKEN in line]


def test_failed_job_exits_1_with_its_result(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(12, "broken", outcome="failed", duration=0.2, result="boom: table missing")
    result = run_cli(*trigger(powerjob, "12", "--result-file", "f.json"), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result_of(tmp_path / "f.json")["platform_state"] == "FAILED"
    assert "boom: table missing" in result.stdout


def test_unknown_job_exits_4(powerjob: PowerJob, tmp_path: Path) -> None:
    by_id = run_cli(*trigger(powerjob, "999"), cwd=tmp_path)
    assert by_id.returncode == 4, by_id.stdout + by_id.stderr
    assert "can't find job by jobId: 999" in by_id.stderr
    by_name = run_cli(*trigger(powerjob, "no-such-job"), cwd=tmp_path)
    assert by_name.returncode == 4, by_name.stdout + by_name.stderr
    assert "no job named 'no-such-job'" in by_name.stderr


def test_job_of_another_app_and_unknown_app_exit_4(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.admin("apps", {"name": "billing", "id": 2, "password": "other-secret"})
    powerjob.job(21, "billing-job", app="billing")
    foreign = run_cli(*trigger(powerjob, "21"), cwd=tmp_path)
    assert foreign.returncode == 4, foreign.stdout + foreign.stderr
    assert "this job is not belong to the app whose appId is 1" in foreign.stderr
    args = ["trigger", "--platform", "powerjob", "--url", powerjob.url, "--job", "21"]
    no_app = run_cli(*args, "--platform-options", '{"app": "nope"}', cwd=tmp_path)
    assert no_app.returncode == 4 and "INVALID_APP:nope" in no_app.stderr, no_app.stderr


def test_wrong_password_exits_3_and_is_never_printed(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(11, "data-sync")
    result = run_cli(*trigger(powerjob, "11"), env={"TRIGGER_SCHEDULE_TOKEN": "wrong-password-123"}, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "INCORRECT_PASSWORD" in result.stderr and "wrong-password-123" not in result.stdout + result.stderr
    assert not calls(powerjob, "runJob")


def test_basic_auth_gives_app_name_and_password(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(11, "data-sync", duration=0.2)
    args = ["trigger", "--platform", "powerjob", "--url", powerjob.url, "--job", "data-sync", *FAST]
    env = {"PJ_APP": "shop", "PJ_PASSWORD": TOKEN}
    result = run_cli(
        *args, "--auth-type", "basic", "--username-env", "PJ_APP", "--password-env", "PJ_PASSWORD", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_powerjob_4_logs_in_with_assert_and_sends_no_token(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.admin("config", {"version": "4.3.9"})
    powerjob.job(11, "data-sync", duration=0.2)
    opts = '{"app": "shop", "adopt": false}'
    args = ["trigger", "--platform", "powerjob", "--url", powerjob.url, "--job", "11", *FAST]
    result = run_cli(*args, "--platform-options", opts, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (assertion,) = calls(powerjob, "assert")
    assert form(assertion) == {"appName": "shop", "password": TOKEN}
    assert "x-powerjob-access-token" not in calls(powerjob, "runJob")[0]["headers"]
    # Adoption needs /openApi/queryInstance (5.1.1+): left on, the old server's refusal says what to change.
    refused = run_cli(*trigger(powerjob, "11"), env=github_env(), cwd=tmp_path)
    assert refused.returncode == 4 and "set options.adopt: false" in refused.stderr, refused.stderr


def test_rerun_of_the_same_ci_context_adopts_the_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(11, "data-sync", duration=0.3)
    env = github_env()
    first = run_cli(*trigger(powerjob, "data-sync", "--result-file", "1.json"), env=env, cwd=tmp_path)
    second = run_cli(*trigger(powerjob, "data-sync", "--result-file", "2.json"), env=env, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert result_of(tmp_path / "2.json")["decision"] == "adopted"
    assert result_of(tmp_path / "1.json")["run_id"] == result_of(tmp_path / "2.json")["run_id"]
    assert len(powerjob.instances()) == 1
    (query, *_) = calls(powerjob, "queryInstance")
    body = json.loads(query["body"])
    assert body["appIdEq"] == 1 and body["jobIdEq"] == 11 and body["gmtCreateGt"] > 0
    other = run_cli(*trigger(powerjob, "data-sync"), env=github_env(), cwd=tmp_path)  # a new commit: a new run
    assert other.returncode == 0 and len(powerjob.instances()) == 2


def test_two_triggers_of_one_job_at_once_follow_their_own_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(13, "ok", duration=0.5)

    def run(name: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*trigger(powerjob, "ok", "--result-file", name), env=github_env(), cwd=tmp_path)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(run, ["a.json", "b.json"])
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    ids = [result_of(tmp_path / name)["run_id"] for name in ("a.json", "b.json")]
    assert len(set(ids)) == 2 and set(ids) == {str(i["instanceId"]) for i in powerjob.instances()}
    for name, run_id in zip(("a.json", "b.json"), ids, strict=True):  # each followed the id runJob gave it
        statuses = [form(r)["instanceId"] for r in calls(powerjob, "fetchInstanceStatus")]
        assert run_id in statuses, name


def test_lost_run_job_answer_is_not_resent(powerjob: PowerJob) -> None:
    """runJob has no de-duplication: a 502 after it must not start a second instance."""
    pj = platform(powerjob, attempts=3)
    powerjob.job(11, "data-sync")
    powerjob.admin("config", {"fail_next_run_job": 502})
    with pytest.raises(PlatformError):
        pj.trigger(TriggerRequest("11", {}, "key-4"), None)
    assert len(calls(powerjob, "runJob")) == 1


def test_sigterm_while_waiting_stops_the_instance(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(14, "slow", duration=60)
    args = trigger(powerjob, "slow", "--timeout", "2m")
    process = start_cli(*args, cwd=tmp_path)
    try:
        wait_for(lambda: any(i["status"] == 3 for i in powerjob.instances()), 20)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, output
    (instance,) = powerjob.instances()
    assert instance["status"] == 10 and instance["result"] == "stopped by user"
    (stop,) = calls(powerjob, "stopInstance")
    assert form(stop) == {"appId": "1", "instanceId": str(instance["instanceId"])}


def test_timeout_exits_6_and_on_timeout_cancel_stops(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(14, "slow", duration=60)
    result = run_cli(*trigger(powerjob, "slow", "--timeout", "2s", "--on-timeout", "cancel"), cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    (instance,) = powerjob.instances()
    assert instance["status"] == 10


def test_concurrency_skip_sees_active_instances(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(14, "slow", duration=60)
    started = run_cli(*trigger(powerjob, "slow", "--no-wait"), env=github_env(), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    skipped = run_cli(
        *trigger(powerjob, "slow", "--concurrency", "skip", "--result-file", "r.json"), env=github_env(), cwd=tmp_path
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert result_of(tmp_path / "r.json")["status"] == "skipped"
    assert len(powerjob.instances()) == 1
    body = json.loads(calls(powerjob, "queryInstance")[-1]["body"])
    assert body["statusIn"] == [1, 2, 3] and body["jobIdEq"] == 14


def test_deferred_start_sends_delay_and_cancels_in_the_time_wheel(powerjob: PowerJob) -> None:
    powerjob.job(11, "data-sync", duration=0.2)
    pj = platform(powerjob)
    start_at = SystemClock().now() + timedelta(seconds=30)
    outcome = pj.trigger(TriggerRequest("data-sync", {"a": 1}, "key-1", start_at=start_at), None)
    (run,) = calls(powerjob, "runJob")
    assert 28_000 <= int(form(run)["delay"]) <= 30_000
    status = pj.status(outcome.run, None)
    assert status.state is RunState.RUNNING and status.raw == "WAITING_DISPATCH"
    pj.cancel(outcome.run)
    assert pj.status(outcome.run, None).raw == "CANCELED"
    assert pj.status(outcome.run, None).state is RunState.CANCELLED
    assert calls(powerjob, "cancelInstance") and not calls(powerjob, "stopInstance")
    pj.cancel(outcome.run)  # already final: nothing sent, no error
    assert len(calls(powerjob, "cancelInstance")) == 1


def test_expired_token_is_refreshed_once(powerjob: PowerJob) -> None:
    powerjob.job(11, "data-sync", duration=0.2)
    pj = platform(powerjob)
    outcome = pj.trigger(TriggerRequest("11", {}, "key-2"), None)
    powerjob.admin("reset", {})  # the server forgets every token (as after a JWT secret change)
    powerjob.job(11, "data-sync", duration=0.2)
    with pytest.raises(RejectedError, match="invalid instanceId"):  # gone with the reset, after a fresh login
        pj.status(outcome.run, None)
    assert len(calls(powerjob, "authApp")) == 1  # the re-login after the INVALID_TOKEN answer
    (first, second) = calls(powerjob, "fetchInstanceStatus")
    assert first["headers"]["x-powerjob-access-token"] != second["headers"]["x-powerjob-access-token"]


def test_stopping_a_finished_instance_is_not_an_error(powerjob: PowerJob) -> None:
    powerjob.job(11, "data-sync", duration=0.1)
    pj = platform(powerjob)
    outcome = pj.trigger(TriggerRequest("11", {}, "key-3"), None)
    wait_for(lambda: pj.status(outcome.run, None).state is RunState.SUCCEEDED, 10)
    pj.cancel(RunRef(outcome.run.run_id))
    assert not calls(powerjob, "stopInstance")


def test_dry_run_sends_nothing(powerjob: PowerJob, tmp_path: Path) -> None:
    result = run_cli(*trigger(powerjob, "data-sync", "--dry-run", "--param", "x=1"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/openApi/runJob" in result.stdout + result.stderr
    assert powerjob.requests() == []


def test_debug_log_masks_password_digest_and_access_token(powerjob: PowerJob, tmp_path: Path) -> None:
    powerjob.job(11, "data-sync", duration=0.2)
    result = run_cli(*trigger(powerjob, "11", "--debug"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "/openApi/authApp" in output and "x-powerjob-access-token" in output.lower()
    token = calls(powerjob, "runJob")[0]["headers"]["x-powerjob-access-token"]
    assert token not in output and hashlib.md5(TOKEN.encode()).hexdigest() not in output and TOKEN not in output
