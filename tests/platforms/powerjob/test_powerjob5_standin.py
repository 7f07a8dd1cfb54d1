"""What only PowerJob 5.x has, against the stand-in of its OpenAPI (standin.py, following PowerJob v5.1.1).

PowerJob 5.x cannot run here: its server is not on Maven Central (test_powerjob.py runs the real 4.3.9).
These cover what 4.x lacks: the authApp login (MD5) with token headers and their refresh, and queryInstance
(5.1.1), which adoption and concurrency policies use. Also what no real server can show: a runJob answer lost
after the server acted, and a dry run that sends no request at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cli_runner import TOKEN, github_env, run_cli
from powerjob_standin_client import PowerJobStandin
from trigger_schedule.clock import SystemClock
from trigger_schedule.errors import PlatformError, RejectedError
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, TriggerRequest
from trigger_schedule.platforms.powerjob import PowerJobPlatform

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")
APP = '{"app": "shop"}'


def trigger(pj: PowerJobStandin, job: str, *extra: str) -> list[str]:
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


def calls(pj: PowerJobStandin, name: str) -> list[dict[str, Any]]:
    return [r for r in pj.requests() if r["path"] == f"/openApi/{name}"]


def form(request: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request["body"]).items()}


def platform(pj: PowerJobStandin, attempts: int = 1, **options: Any) -> PowerJobPlatform:
    config = PlatformConfig(name="pj", type="powerjob", url=pj.url, token=TOKEN, options={"app": "shop", **options})
    return PowerJobPlatform(config, HttpClient(HttpOptions(max_attempts=attempts), SystemClock()), SystemClock())


def wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_success_passes_params_and_provenance_with_token_auth(standin: PowerJobStandin, tmp_path: Path) -> None:
    standin.job(11, "data-sync", duration=0.5, result="synced 42 rows", record_dir=str(tmp_path))
    env = github_env()
    args = trigger(standin, "data-sync", "--param", "environment=production", "--param", "version=1.2.3")
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
    (login,) = calls(standin, "authApp")
    assert json.loads(login["body"]) == {
        "appName": "shop",
        "encryptedPassword": hashlib.md5(TOKEN.encode()).hexdigest(),
        "encryptType": "md5",
    }
    (run,) = calls(standin, "runJob")
    assert run["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert run["headers"]["x-powerjob-app-id"] == "1" and run["headers"]["x-powerjob-access-token"]
    assert {k: v for k, v in form(run).items() if k != "instanceParams"} == {"appId": "1", "jobId": "11", "delay": "0"}
    # The job's name was resolved to its id through the app's job list; the name never reached runJob.
    assert len(calls(standin, "fetchAllJob")) == 1
    assert "synced 42 rows" in result.stdout and result.stdout.count("synced 42 rows") == 1
    assert "dispatched to 127.0.0.1:27777" in result.stdout
    printed = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert not [line for line in printed if TOKEN in line]


def test_wrong_password_exits_3_and_is_never_printed(standin: PowerJobStandin, tmp_path: Path) -> None:
    standin.job(11, "data-sync")
    result = run_cli(*trigger(standin, "11"), env={"TRIGGER_SCHEDULE_TOKEN": "wrong-password-123"}, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "INCORRECT_PASSWORD" in result.stderr and "wrong-password-123" not in result.stdout + result.stderr
    assert not calls(standin, "runJob")


def test_rerun_of_the_same_ci_context_adopts_the_instance(standin: PowerJobStandin, tmp_path: Path) -> None:
    standin.job(11, "data-sync", duration=0.3)
    env = github_env()
    first = run_cli(*trigger(standin, "data-sync", "--result-file", "1.json"), env=env, cwd=tmp_path)
    second = run_cli(*trigger(standin, "data-sync", "--result-file", "2.json"), env=env, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert result_of(tmp_path / "2.json")["decision"] == "adopted"
    assert result_of(tmp_path / "1.json")["run_id"] == result_of(tmp_path / "2.json")["run_id"]
    assert len(standin.instances()) == 1
    (query, *_) = calls(standin, "queryInstance")
    body = json.loads(query["body"])
    assert body["appIdEq"] == 1 and body["jobIdEq"] == 11 and body["gmtCreateGt"] > 0
    other = run_cli(*trigger(standin, "data-sync"), env=github_env(), cwd=tmp_path)  # a new commit: a new run
    assert other.returncode == 0 and len(standin.instances()) == 2


def test_lost_run_job_answer_is_not_resent(standin: PowerJobStandin) -> None:
    """runJob has no de-duplication: a 502 after it must not start a second instance."""
    pj = platform(standin, attempts=3)
    standin.job(11, "data-sync")
    standin.admin("config", {"fail_next_run_job": 502})
    with pytest.raises(PlatformError):
        pj.trigger(TriggerRequest("11", {}, "key-4"), None)
    assert len(calls(standin, "runJob")) == 1


def test_concurrency_skip_sees_active_instances(standin: PowerJobStandin, tmp_path: Path) -> None:
    standin.job(14, "slow", duration=60)
    started = run_cli(*trigger(standin, "slow", "--no-wait"), env=github_env(), cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    skipped = run_cli(
        *trigger(standin, "slow", "--concurrency", "skip", "--result-file", "r.json"), env=github_env(), cwd=tmp_path
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert result_of(tmp_path / "r.json")["status"] == "skipped"
    assert len(standin.instances()) == 1
    body = json.loads(calls(standin, "queryInstance")[-1]["body"])
    assert body["statusIn"] == [1, 2, 3] and body["jobIdEq"] == 14


def test_expired_token_is_refreshed_once(standin: PowerJobStandin) -> None:
    standin.job(11, "data-sync", duration=0.2)
    pj = platform(standin)
    outcome = pj.trigger(TriggerRequest("11", {}, "key-2"), None)
    standin.admin("reset", {})  # the server forgets every token (as after a JWT secret change)
    standin.job(11, "data-sync", duration=0.2)
    with pytest.raises(RejectedError, match="invalid instanceId"):  # gone with the reset, after a fresh login
        pj.status(outcome.run, None)
    assert len(calls(standin, "authApp")) == 1  # the re-login after the INVALID_TOKEN answer
    (first, second) = calls(standin, "fetchInstanceStatus")
    assert first["headers"]["x-powerjob-access-token"] != second["headers"]["x-powerjob-access-token"]


def test_dry_run_sends_nothing(standin: PowerJobStandin, tmp_path: Path) -> None:
    result = run_cli(*trigger(standin, "data-sync", "--dry-run", "--param", "x=1"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/openApi/runJob" in result.stdout + result.stderr
    assert standin.requests() == []


def test_debug_log_masks_password_digest_and_access_token(standin: PowerJobStandin, tmp_path: Path) -> None:
    standin.job(11, "data-sync", duration=0.2)
    result = run_cli(*trigger(standin, "11", "--debug"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "/openApi/authApp" in output and "x-powerjob-access-token" in output.lower()
    token = calls(standin, "runJob")[0]["headers"]["x-powerjob-access-token"]
    assert token not in output and hashlib.md5(TOKEN.encode()).hexdigest() not in output and TOKEN not in output


def test_powerjob_5_0_cannot_adopt_so_auto_warns_and_true_refuses(standin: PowerJobStandin, tmp_path: Path) -> None:
    """5.0.x: queryInstance cannot read a query and the console needs a user login (4.x's console needs none)."""
    standin.admin("config", {"version": "5.0.1"})
    standin.job(11, "data-sync", duration=0.1)
    env = github_env()
    first = run_cli(*trigger(standin, "data-sync"), env=env, cwd=tmp_path)
    second = run_cli(*trigger(standin, "data-sync"), env=env, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout
    assert "starts a new instance" in second.stdout and len(standin.instances()) == 2
    assert not [r for r in standin.requests() if r["path"] == "/instance/list"]
    opts = '{"app": "shop", "adopt": true}'
    args = ["trigger", "--platform", "powerjob", "--url", standin.url, "--job", "11", "--platform-options", opts]
    refused = run_cli(*args, env=env, cwd=tmp_path)
    assert refused.returncode == 4 and "queryInstance works from PowerJob 5.1.1" in refused.stdout, refused.stdout
