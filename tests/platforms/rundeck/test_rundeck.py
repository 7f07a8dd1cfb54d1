"""The CLI end to end against the stand-in Rundeck (standin.py, which follows rundeck/rundeck's sources).

No real Rundeck can be installed on the test machines (its war is not on Maven Central; see
docs/platforms/rundeck.md, "Tested against"), so every case runs here, the server's own record of an
execution read through its API (`Rundeck.execution`) as a real-server test would read it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_runner import TOKEN, github_env, run_cli, start_cli
from rundeck_client import Rundeck
from servers.admin import wait_until
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunState, TriggerRequest
from trigger_schedule.platforms.rundeck import RundeckPlatform, option_value

FAST = ("--poll-interval", "200ms", "--poll-max-interval", "400ms")
JOB_ID = "5f0c4c5e-7d7a-4c1e-9d4f-2a1b3c4d5e6f"


def trigger(rundeck: Rundeck, job: str, *extra: str) -> list[str]:
    return ["trigger", "--platform", "rundeck", "--url", rundeck.url, "--job", job, *FAST, *extra]


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def api_requests(rundeck: Rundeck, suffix: str) -> list[dict[str, Any]]:
    return [r for r in rundeck.requests() if r["path"].endswith(suffix)]


def test_success_sends_string_options_provenance_and_streams_logs(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job(
        JOB_ID,
        duration=3,
        logs=["sync started", "synced 500 rows", "sync done"],
        options=[{"name": "environment", "required": True}, {"name": "regions", "multivalued": True}],
    )
    env = github_env()
    params = json.dumps({"environment": "production", "batchSize": 500, "fullRefresh": True, "regions": ["eu", "us"]})
    result = run_cli(*trigger(rundeck, JOB_ID, "--params", params, "--result-file", "r.json"), env=env, cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "succeeded" and entry["decision"] == "triggered"
    assert entry["run_url"].endswith(f"/execution/show/{entry['run_id']}")
    received = rundeck.execution(entry["run_id"])["job"]["options"]
    # Rundeck drops non-string option values (filterOptParams): every value went as a string.
    assert received["environment"] == "production"
    assert received["batchSize"] == "500" and received["fullRefresh"] == "true"
    assert received["regions"] == "eu,us"  # the list, joined with the option's delimiter
    assert received["trigger_schedule_key"] == entry["idempotency_key"]
    provenance = received["trigger_schedule_ci"]
    for part in ("ci.repository=acme/shop", f"ci.sha={env['GITHUB_SHA']}", "ci.actor=octocat", "/actions/runs/1"):
        assert part in provenance
    (run,) = api_requests(rundeck, f"/job/{JOB_ID}/run")
    assert run["path"] == f"/api/44/job/{JOB_ID}/run"
    assert run["token"] == TOKEN and run["authorization"] is None
    assert run["accept"] == "application/json" and run["content_type"].startswith("application/json")
    for line in ("sync started", "synced 500 rows", "sync done"):
        assert line in out
    # GitHub consumes the `::add-mask::` line itself; nothing else may show the token.
    assert TOKEN not in "\n".join(x for x in out.splitlines() if not x.startswith("::add-mask::"))
    # Logs were read incrementally: later reads continue from the offset and lastmod of earlier ones.
    reads = api_requests(rundeck, f"/execution/{entry['run_id']}/output")
    assert reads[0]["query"] == {"offset": "0", "lastmod": "0"}
    assert any(int(r["query"]["offset"]) > 0 and int(r["query"]["lastmod"]) > 0 for r in reads[1:]), reads


def test_failure_exits_1(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("fails", outcome="failed", duration=0.3, logs=["boom"])
    result = run_cli(*trigger(rundeck, "fails", "--result-file", "r.json"), env=github_env(), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result_of(tmp_path / "r.json")["platform_state"] == "failed"
    assert "boom" in result.stdout + result.stderr


def test_unknown_job_exits_4(rundeck: Rundeck, tmp_path: Path) -> None:
    result = run_cli(*trigger(rundeck, "no-such-job"), env=github_env(), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "no job with the id no-such-job" in out and "UUID" in out


def test_wrong_token_exits_3(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("ok")
    env = {**github_env(), "TRIGGER_SCHEDULE_TOKEN": "not-the-token"}
    result = run_cli(*trigger(rundeck, "ok"), env=env, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert rundeck.executions() == []


def test_an_api_version_the_server_does_not_serve_exits_4_naming_its_newest(rundeck: Rundeck, tmp_path: Path) -> None:
    # What Rundeck 4.10 (API 43) answers the default 44; here the stand-in's newest is 59.
    rundeck.job("ok")
    options = ("--platform-options", '{"api-version": 60}')
    result = run_cli(*trigger(rundeck, "ok", *options), env=github_env(), cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 4, out
    assert "does not serve the API version" in out and "options.api-version: 59" in out
    assert "4.11" in out and rundeck.executions() == []


def test_conflict_of_a_job_without_concurrent_runs_exits_4_with_a_hint(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("single", multiple=False, duration=30)
    first = run_cli(*trigger(rundeck, "single", "--no-wait"), env=github_env(), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_cli(*trigger(rundeck, "single"), env=github_env(), cwd=tmp_path)
    assert second.returncode == 4, second.stdout + second.stderr
    out = second.stdout + second.stderr
    assert "already running" in out and "api.error.execution.conflict" in out
    assert "concurrency" in out and "Allow multiple executions" in out
    assert len(rundeck.executions()) == 1


def test_rerun_of_the_same_ci_context_adopts_its_execution(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("sync", duration=0.5)
    env = github_env()
    first = run_cli(*trigger(rundeck, "sync", "--param", "a=1"), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_cli(*trigger(rundeck, "sync", "--param", "a=1", "--result-file", "r.json"), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert result_of(tmp_path / "r.json")["decision"] == "adopted"
    assert len(rundeck.executions()) == 1
    assert len(api_requests(rundeck, "/job/sync/run")) == 1


def test_a_rerun_adopts_its_unfinished_execution_listed_after_find_max_finished_ones(
    rundeck: Rundeck, tmp_path: Path
) -> None:
    # Rundeck lists a job's executions by completion time, unfinished ones last (H2, MySQL, SQL Server).
    rundeck.job("sync", duration=0.1)
    platform = _platform(rundeck)
    for n in range(3):
        platform.trigger(TriggerRequest("sync", {}, f"earlier-{n}"), None)
    wait_until(lambda: {e["status"] for e in rundeck.executions()} == {"succeeded"}, 10)
    rundeck.job("sync", duration=60)
    env, few = github_env(), ("--platform-options", '{"find-max": 2}', "--no-wait")
    first = run_cli(*trigger(rundeck, "sync", *few, "--result-file", "1.json"), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_cli(*trigger(rundeck, "sync", *few, "--result-file", "2.json"), env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    adopted = result_of(tmp_path / "2.json")
    assert adopted["decision"] == "adopted", again.stdout + again.stderr
    assert adopted["run_id"] == result_of(tmp_path / "1.json")["run_id"]
    assert len(rundeck.executions()) == 4
    # A deferred execution (scheduled, not finished) is found the same way.
    start_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    deferred = platform.trigger(TriggerRequest("sync", {}, "deferred", start_at=start_at), None).run
    few_only = _platform(rundeck, {"find-max": 2})
    assert few_only.find_existing(TriggerRequest("sync", {}, "deferred"), None) == deferred


def test_a_lost_trigger_answer_is_recovered_without_a_second_execution(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("sync", duration=0.3)
    rundeck.admin("POST", "faults", {"drop_next_run": True})
    result = run_cli(*trigger(rundeck, "sync", "--result-file", "r.json"), env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (execution,) = rundeck.executions()
    assert result_of(tmp_path / "r.json")["run_id"] == str(execution["id"])
    assert len(api_requests(rundeck, "/job/sync/run")) == 1


def test_sigterm_aborts_the_execution_and_exits_143(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("slow", duration=60, logs=["working"])
    process = start_cli(*trigger(rundeck, "slow", "--result-file", "r.json"), env=github_env(), cwd=tmp_path)
    try:
        seen = _read_until(process, "triggered slow run", timeout=30)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, seen + output
    (execution,) = rundeck.executions()
    assert execution["status"] == "aborted"
    assert api_requests(rundeck, f"/execution/{execution['id']}/abort")


def test_timeout_exits_6_and_on_timeout_cancel_aborts(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("slow", duration=60)
    result = run_cli(
        *trigger(rundeck, "slow", "--timeout", "2s", "--on-timeout", "cancel"), env=github_env(), cwd=tmp_path
    )
    assert result.returncode == 6, result.stdout + result.stderr
    (execution,) = rundeck.executions()
    assert rundeck.execution(str(execution["id"]))["status"] == "aborted"
    assert api_requests(rundeck, f"/execution/{execution['id']}/abort")


def test_timeout_exits_6_and_leaves_the_execution_running(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("slow", duration=60)
    result = run_cli(
        *trigger(rundeck, "slow", "--timeout", "2s", "--on-timeout", "leave"), env=github_env(), cwd=tmp_path
    )
    assert result.returncode == 6, result.stdout + result.stderr
    (execution,) = rundeck.executions()
    assert rundeck.execution(str(execution["id"]))["status"] == "running"
    assert not api_requests(rundeck, f"/execution/{execution['id']}/abort")


def test_two_triggers_of_one_job_at_once_each_follow_their_own_execution(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("shared", duration=1.0)
    triggers = [
        {
            "name": name,
            "job": "shared",
            "params": {"which": name},
            "poll-interval": "200ms",
            "poll-max-interval": "400ms",
        }
        for name in ("one", "two")
    ]
    plan = {
        "version": 1,
        "platforms": {"rd": {"type": "rundeck", "url": rundeck.url}},
        "max-parallel": 2,
        "triggers": triggers,
    }
    (tmp_path / "plan.yml").write_text(json.dumps(plan))
    result = run_cli("run", "-c", "plan.yml", "--result-file", "r.json", env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entries = json.loads((tmp_path / "r.json").read_text())["triggers"]
    assert len({e["run_id"] for e in entries}) == 2
    for entry in entries:
        assert rundeck.execution(entry["run_id"])["job"]["options"]["which"] == entry["name"]


def test_concurrency_skip_lists_running_executions(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("busy", duration=30)
    first = run_cli(*trigger(rundeck, "busy", "--no-wait"), env=github_env(), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    result = run_cli(
        *trigger(rundeck, "busy", "--concurrency", "skip", "--result-file", "r.json"), env=github_env(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "skipped" and "already has active run(s) 1" in entry["reason"]
    assert any(r["query"].get("status") == "running" for r in api_requests(rundeck, "/job/busy/executions"))
    assert len(rundeck.executions()) == 1


def test_window_defer_schedules_the_execution_with_run_at_time(rundeck: Rundeck, tmp_path: Path) -> None:
    rundeck.job("later", duration=0.5)
    opening = (datetime.now(UTC) + timedelta(minutes=2)).replace(second=0, microsecond=0)
    window = {
        "start": opening.strftime("%H:%M"),
        "end": (opening + timedelta(minutes=5)).strftime("%H:%M"),
        "timezone": "UTC",
        "outside": "defer",
    }
    result = run_cli(
        *trigger(rundeck, "later", "--window", json.dumps(window), "--no-wait"), env=github_env(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = api_requests(rundeck, "/job/later/run")
    assert json.loads(run["body"])["runAtTime"] == opening.strftime("%Y-%m-%dT%H:%M:%SZ")
    (execution,) = rundeck.executions()
    assert execution["status"] == "scheduled" and execution["start"] == opening.timestamp()


def test_deferred_start_runs_at_the_given_time(rundeck: Rundeck) -> None:
    rundeck.job("soon", duration=0.3)
    platform = _platform(rundeck)
    start_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    run = platform.trigger(TriggerRequest("soon", {}, "key-1", start_at=start_at), None).run
    assert platform.status(run, None).raw == "scheduled"
    assert platform.status(run, None).state is RunState.RUNNING
    deadline = time.monotonic() + 10
    while platform.status(run, None).state is RunState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
    assert platform.status(run, None).raw == "succeeded"
    assert platform.find_existing(TriggerRequest("soon", {}, "key-1"), None) == run
    assert platform.find_existing(TriggerRequest("soon", {}, "key-2"), None) is None


def test_api_version_option_and_adoption_off(rundeck: Rundeck) -> None:
    rundeck.job("v", duration=0.2)
    platform = _platform(
        rundeck, {"api-version": 48, "key-option": None, "provenance-option": None, "loglevel": "DEBUG"}
    )
    request = TriggerRequest("v", {"x": 1}, "key-1", provenance={"ci.sha": "abc"})
    prepared = platform.prepare_trigger(request)
    assert prepared.body == {"options": {"x": "1"}, "loglevel": "DEBUG"}
    assert prepared.headers["X-Rundeck-Auth-Token"] == "***"
    platform.trigger(request, None)
    assert api_requests(rundeck, "/job/v/run")[0]["path"] == "/api/48/job/v/run"
    assert platform.find_existing(request, None) is None


def test_option_values_are_strings() -> None:
    assert option_value(3) == "3" and option_value(1.5) == "1.5" and option_value(False) == "false"
    assert option_value(None) == "" and option_value(["a", 2]) == ["a", "2"]
    assert option_value({"b": 1, "a": True}) == '{"a":true,"b":1}'


def _platform(rundeck: Rundeck, options: dict[str, Any] | None = None) -> RundeckPlatform:
    config = PlatformConfig(name="rd", type="rundeck", url=rundeck.url, token=TOKEN, options=options or {})
    return RundeckPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())


def _read_until(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if text in line:
                done.set()
                return

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout):
        pytest.fail(f"{text!r} not seen in {timeout:.0f} s:\n{''.join(seen)}")
    return "".join(seen)
