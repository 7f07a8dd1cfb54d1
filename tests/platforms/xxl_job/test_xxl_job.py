"""The CLI end to end against the stand-in XXL-JOB admin (standin.py, following xxl-job 2.4.2, 3.2.0 and 3.3.0)."""

from __future__ import annotations

import dataclasses
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_runner import github_env as ci_github_env
from cli_runner import run_cli, start_cli
from servers.admin import wait_until as _wait_for
from trigger_schedule.clock import SystemClock
from trigger_schedule.errors import AuthError, PlatformError, RejectedError
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.platforms.xxl_job import XxlJobPlatform, page_rows, plain_log, state_of

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")
# For what no version changes: the newest only (the `xxl` fixture otherwise runs a test once per version).
ONE_ADMIN = pytest.mark.parametrize("xxl", [("3.3.0", 3)], indirect=True, ids=["3.3.0"])
CREDS = {"TRIGGER_SCHEDULE_USERNAME": "admin", "TRIGGER_SCHEDULE_PASSWORD": "123456"}


def github_env(**extra: str) -> dict[str, str]:
    return ci_github_env(**CREDS, **extra)


def trigger(xxl: Any, job: int, *extra: str, options: dict[str, Any] | None = None) -> list[str]:
    args = ["trigger", "--platform", "xxl-job", "--url", xxl.url, "--job", str(job), "--auth-type", "basic", *FAST]
    args += ["--platform-options", json.dumps({"api-version": xxl.api_version, **(options or {})})]
    return [*args, *extra]


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def sent(xxl: Any, route: str) -> list[dict[str, Any]]:
    return [r for r in xxl.requests() if r["path"].endswith(route)]


def test_success_sends_params_and_provenance_and_streams_logs(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=0.8, lines=["syncing rows", SPECIAL_LINE])
    args = trigger(xxl, 7, "--param", "environment=prod", "--params", '{"batch": 500}', "--result-file", "r.json")
    result = run_cli(*args, env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (log,) = xxl.logs()
    param = json.loads(log["executorParam"])
    assert param["environment"] == "prod" and param["batch"] == 500
    marker = param["_trigger_schedule"]
    entry = result_of(tmp_path / "r.json")
    assert marker["key"] == entry["idempotency_key"]
    ci = marker["ci"]
    assert ci["ci.repository"] == "acme/shop" and len(ci["ci.sha"]) == 40 and ci["ci.actor"] == "octocat"
    assert ci["ci.pipeline_url"].startswith("https://github.com/acme/shop/actions/runs/1")
    assert entry["run_id"] == f"7:{log['id']}" and entry["status"] == "succeeded"
    assert_plain_log(result.stdout, log["executorParam"])
    (triggered,) = sent(xxl, "/jobinfo/trigger")
    paging = sent(xxl, "/joblog/pageList")[0]["form"]
    assert (paging["start"], paging["length"], paging["offset"], paging["pagesize"]) == ("0", "50", "0", "50")
    assert triggered["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert triggered["form"]["addressList"] == "" and triggered["form"]["id"] == "7"
    login = "/login" if xxl.api_version == 2 else "/auth/doLogin"
    assert len(sent(xxl, login)) == 1
    visible = [x for x in (result.stdout + result.stderr).splitlines() if not x.startswith("::add-mask::")]
    assert not [x for x in visible if "123456" in x]


# The admin HTML-escapes the executor's log (JobLogController.filter); the CI log must show it as written.
SPECIAL_LINE = 'rows synced: 42 <ok> & "done" isn\'t &amp; escaped'


def assert_plain_log(stdout: str, executor_param: str) -> None:
    lines = [line.strip() for line in stdout.splitlines()]
    assert [x for x in lines if x.endswith(SPECIAL_LINE)], stdout
    assert "----------- xxl-job job execute start -----------" in lines
    (param,) = [x for x in lines if x.startswith("----------- Param:")]
    assert json.loads(param.removeprefix("----------- Param:")) == json.loads(executor_param)
    assert [x for x in lines if x.startswith("----------- Result: handleCode=200")]
    assert not [x for x in lines if "<br>" in x or "&quot;" in x or "&lt;" in x or "&#39;" in x], stdout


def test_logs_are_read_incrementally(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=1.5, lines=[f"line {n}" for n in range(6)])
    result = run_cli(*trigger(xxl, 7), env=CREDS, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    cats = sent(xxl, "/joblog/logDetailCat")
    starts = [int(c["form"]["fromLineNum"]) for c in cats]
    assert starts[0] == 1 and max(starts) > 1 and starts == sorted(starts)
    assert all(result.stdout.count(f"line {n}") == 1 for n in range(6))


def test_failed_and_timed_out_runs_exit_1(xxl: Any, tmp_path: Path) -> None:
    xxl.job(8, duration=0.2, outcome="fail")
    xxl.job(9, duration=0.2, outcome="timeout")
    failed = run_cli(*trigger(xxl, 8, "--result-file", "f.json"), env=CREDS, cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert result_of(tmp_path / "f.json")["status"] == "failed"
    timed_out = run_cli(*trigger(xxl, 9), env=CREDS, cwd=tmp_path)
    assert timed_out.returncode == 1, timed_out.stdout + timed_out.stderr


def test_unknown_job_exits_4(xxl: Any, tmp_path: Path) -> None:
    result = run_cli(*trigger(xxl, 404), env=CREDS, cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "任务ID非法" in result.stderr


def test_wrong_password_or_login_path_exits_3(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7)
    wrong = run_cli(*trigger(xxl, 7), env={**CREDS, "TRIGGER_SCHEDULE_PASSWORD": "nope"}, cwd=tmp_path)
    assert wrong.returncode == 3, wrong.stdout + wrong.stderr
    assert "login was refused" in wrong.stderr
    xxl.admin("POST", "config", {"version": "3.3.0" if xxl.api_version == 2 else "2.4.2"})
    # The other generation's admin has no such login path: the client must not send the trigger anyway.
    mismatch = run_cli(*trigger(xxl, 7), env=CREDS, cwd=tmp_path)
    assert mismatch.returncode in (2, 3), mismatch.stdout + mismatch.stderr
    assert not sent(xxl, "/jobinfo/trigger")


def test_rerun_of_the_same_ci_context_adopts_the_log(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=0.3)
    env = github_env()
    first = run_cli(*trigger(xxl, 7, "--result-file", "1.json"), env=env, cwd=tmp_path)
    second = run_cli(*trigger(xxl, 7, "--result-file", "2.json"), env={**env, "GITHUB_RUN_ATTEMPT": "2"}, cwd=tmp_path)
    assert (first.returncode, second.returncode) == (0, 0), second.stdout + second.stderr
    one, two = result_of(tmp_path / "1.json"), result_of(tmp_path / "2.json")
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"]
    assert len(xxl.logs()) == 1 and len(sent(xxl, "/jobinfo/trigger")) == 1


def test_two_triggers_of_one_job_at_once_each_find_their_own_log(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=0.6)
    plan = {
        "version": 1,
        "platforms": {
            "xxl": {
                "type": "xxl-job",
                "url": xxl.url,
                "auth": {"type": "basic"},
                "options": {"api-version": xxl.api_version},
            }
        },
        "defaults": {"poll-interval": "100ms", "poll-max-interval": "300ms"},
        "triggers": [
            {"name": "sync-eu", "job": "7", "params": {"region": "eu"}},
            {"name": "sync-us", "job": "7", "params": {"region": "us"}},
        ],
    }
    (tmp_path / "plan.yml").write_text(json.dumps(plan))
    result = run_cli("run", "-c", "plan.yml", "--result-file", "r.json", env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entries = {t["name"]: t for t in json.loads((tmp_path / "r.json").read_text())["triggers"]}
    logs = {f"7:{log['id']}": json.loads(log["executorParam"])["region"] for log in xxl.logs()}
    assert logs[entries["sync-eu"]["run_id"]] == "eu" and logs[entries["sync-us"]["run_id"]] == "us"


def test_two_logs_with_one_marker_are_reported_not_guessed(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=0.2)
    env = github_env()
    first = run_cli(*trigger(xxl, 7, "--result-file", "1.json"), env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    (log,) = xxl.logs()
    copy = {k: log[k] for k in ("jobGroup", "jobId", "executorParam", "triggerTime", "triggerCode", "handleCode")}
    xxl.admin("POST", "logs", copy)
    second = run_cli(*trigger(xxl, 7, "--result-file", "2.json"), env=env, cwd=tmp_path)
    assert second.returncode == 5, second.stdout + second.stderr
    assert "refusing to guess" in second.stdout + second.stderr
    assert len(sent(xxl, "/jobinfo/trigger")) == 1


def test_sigterm_while_waiting_kills_the_run(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=60, lines=["working"])
    process = start_cli(*trigger(xxl, 7, "--timeout", "2m"), env=CREDS, cwd=tmp_path)
    try:
        _wait_for(lambda: len(sent(xxl, "/joblog/logDetailCat")) >= 1, 20)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, output
    (log,) = xxl.logs()
    assert log["killed"] and log["handleCode"] == 500
    (kill,) = sent(xxl, "/joblog/logKill")
    assert kill["form"] == {"id": str(log["id"])}


def test_timeout_exits_6_and_on_timeout_cancel_kills(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=60)
    result = run_cli(*trigger(xxl, 7, "--timeout", "2s", "--on-timeout", "cancel"), env=CREDS, cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    (log,) = xxl.logs()
    assert log["killed"]


def test_concurrency_skip_sees_running_logs(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=30)
    first = run_cli(*trigger(xxl, 7, "--no-wait"), env=github_env(), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_cli(*trigger(xxl, 7, "--concurrency", "skip", "--result-file", "r.json"), env=github_env(),
                     cwd=tmp_path)  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert result_of(tmp_path / "r.json")["decision"] == "skipped"
    assert len(xxl.logs()) == 1


def test_cancel_previous_with_kill_shared_stops_every_earlier_run(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=30)
    for sha in ("1" * 40, "2" * 40):
        earlier = run_cli(*trigger(xxl, 7, "--no-wait"), env=github_env(GITHUB_SHA=sha), cwd=tmp_path)
        assert earlier.returncode == 0, earlier.stdout + earlier.stderr
    args = trigger(xxl, 7, "--no-wait", "--concurrency", "cancel-previous", options={"kill-shared": True})
    result = run_cli(*args, env=github_env(GITHUB_SHA="3" * 40), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    first, second, third = sorted(xxl.logs(), key=lambda log: int(log["id"]))
    assert first["handleCode"] == second["handleCode"] == 500 and third["handleCode"] == 0
    assert len(sent(xxl, "/joblog/logKill")) == 1  # one kill stopped the thread; the other run read as ended


@ONE_ADMIN  # nothing is sent
def test_dry_run_sends_nothing(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7)
    result = run_cli(*trigger(xxl, 7, "--dry-run"), env=CREDS, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jobinfo/trigger" in result.stdout
    assert not xxl.requests()


def platform(xxl: Any, password: str = "123456") -> XxlJobPlatform:
    config = PlatformConfig(
        name="xxl", type="xxl-job", url=xxl.url, auth_type="basic", username="admin", password=password,
        options={"api-version": xxl.api_version, "find-timeout": 5},
    )  # fmt: skip
    return XxlJobPlatform(config, HttpClient(HttpOptions(max_attempts=1), SystemClock()), SystemClock())


def request(job: int, key: str = "k-1") -> TriggerRequest:
    return TriggerRequest(job=str(job), params={"a": 1}, idempotency_key=key)


def test_an_expired_session_logs_in_again_once(xxl: Any) -> None:
    xxl.job(7, duration=5)
    xxl_job = platform(xxl)
    run = xxl_job.trigger(request(7), None).run
    xxl.admin("POST", "logout", {})
    assert xxl_job.status(run, None).state is RunState.RUNNING
    login = "/login" if xxl.api_version == 2 else "/auth/doLogin"
    assert len(sent(xxl, login)) == 2


def test_a_refused_cookie_is_an_auth_error(xxl: Any) -> None:
    xxl_job = platform(xxl)
    xxl_job._cookie = "stale=1"  # the login is skipped; the retry finds the same answer
    xxl_job.config = PlatformConfig(name="xxl", type="xxl-job", url=xxl.url, auth_type="none",
                                    options={"api-version": xxl.api_version})  # fmt: skip
    with pytest.raises(AuthError):
        xxl_job.list_active("7", None)


def test_killed_reads_as_cancelled(xxl: Any) -> None:
    xxl.job(7, duration=30)
    xxl_job = platform(xxl)
    slow = xxl_job.trigger(request(7), None).run
    assert [r.run_id for r in xxl_job.list_active("7", None)] == [slow.run_id]
    xxl_job.cancel(slow)
    assert xxl_job.status(slow, None).state is RunState.CANCELLED
    assert xxl_job.list_active("7", None) == []
    (log,) = xxl.logs()
    assert log["killed"] and log["handleMsg"] == "人为操作\uff0c主动终止:"  # the thread was running: no executor msg


def test_a_cancel_after_the_run_ended_never_kills(xxl: Any) -> None:
    """logKill kills by task id and writes the log as killed whatever it was: a finished run must not be sent it."""
    xxl.job(8, duration=0.1)
    xxl_job = platform(xxl)
    quick = xxl_job.trigger(request(8), None).run
    _wait_for(lambda: xxl_job.status(quick, None).state.terminal, 10)
    xxl_job.cancel(quick)
    assert not sent(xxl, "/joblog/logKill")
    (log,) = xxl.logs()
    assert (log["handleCode"], log["killed"]) == (200, False)
    assert xxl_job.status(quick, None).state is RunState.SUCCEEDED
    # What the guard prevents: the admin answers 200 and rewrites the succeeded run as killed.
    answer = xxl_job._post("joblog/logKill", {"id": log["id"]}, "kill")
    assert answer["code"] == 200
    (log,) = xxl.logs()
    assert log["handleCode"] == 500 and log["handleMsg"].startswith("人为操作")
    assert xxl_job.status(quick, None).state is RunState.CANCELLED


def test_a_kill_that_would_stop_another_run_of_the_task_is_refused(xxl: Any) -> None:
    xxl.job(7, duration=30)
    xxl_job = platform(xxl)
    theirs = xxl_job.trigger(request(7, "k-theirs"), None).run
    ours = xxl_job.trigger(request(7, "k-ours"), None).run  # queued behind theirs in the task's JobThread
    assert {r.run_id for r in xxl_job.list_active("7", None)} == {theirs.run_id, ours.run_id}
    with pytest.raises(PlatformError, match="would stop them too"):
        xxl_job.cancel(ours)
    assert not sent(xxl, "/joblog/logKill")
    assert [log["handleCode"] for log in xxl.logs()] == [0, 0]
    # kill-shared: the task's thread goes, with every run it holds.
    xxl_job.opts["kill-shared"] = True
    xxl_job.cancel(ours)
    by_id = {f"7:{log['id']}": log for log in xxl.logs()}
    assert by_id[ours.run_id]["killed"] and by_id[theirs.run_id]["handleCode"] == 500
    assert by_id[theirs.run_id]["handleMsg"] == "scheduling center kill job. [job running, killed]"
    assert xxl_job.status(theirs, None).state is RunState.CANCELLED
    assert xxl_job.status(ours, None).state is RunState.CANCELLED


def test_a_kill_the_executor_finds_nothing_to_stop_for_warns(xxl: Any) -> None:
    # A log the admin still shows running while its executor has no thread for the job (the run just ended).
    xxl.job(7)
    row = xxl.admin("POST", "logs", {"jobGroup": 1, "jobId": 7, "executorParam": "{}", "triggerCode": 200,
                                     "handleCode": 0, "executorAddress": "http://127.0.0.1:9999/"})  # fmt: skip
    warnings: list[str] = []
    xxl_job = platform(xxl)
    xxl_job.config = dataclasses.replace(xxl_job.config, warn=warnings.append)
    xxl_job.cancel(RunRef(run_id=f"7:{row['id']}", url=None, extra={"job": "7"}))
    (warning,) = warnings
    assert "no thread for job 7" in warning
    (log,) = xxl.logs()
    assert log["handleMsg"] == "人为操作\uff0c主动终止:job thread already killed."


def test_dispatch_failure_and_states_map_from_codes() -> None:
    assert state_of({"triggerCode": 500, "handleCode": 0}, None).state is RunState.FAILED
    assert state_of({"triggerCode": 0, "handleCode": 0}, None).state is RunState.RUNNING
    assert state_of({"triggerCode": 200, "handleCode": 0}, None).state is RunState.RUNNING
    assert state_of({"triggerCode": 200, "handleCode": 200}, None).state is RunState.SUCCEEDED
    assert state_of({"triggerCode": 200, "handleCode": 502}, None).raw == "timed out"


@ONE_ADMIN  # the same trigger form and column for every version covered
def test_executor_param_keeps_within_512_characters(xxl: Any, tmp_path: Path) -> None:
    xxl.job(7, duration=0.2)
    medium = json.dumps({"note": "x" * 330})
    dropped = run_cli(*trigger(xxl, 7, "--params", medium), env=github_env(), cwd=tmp_path)
    assert dropped.returncode == 0, dropped.stdout + dropped.stderr
    (log,) = xxl.logs()
    assert "ci" not in json.loads(log["executorParam"])["_trigger_schedule"]
    # On GitHub a warning is a workflow command, so it lands on stdout as an annotation.
    assert "::warning::platform xxl-job: job 7: the CI provenance is left out of executorParam" in dropped.stdout
    too_long = run_cli(*trigger(xxl, 7, "--params", json.dumps({"note": "x" * 600})), env=CREDS, cwd=tmp_path)
    assert too_long.returncode == 2, too_long.stdout + too_long.stderr
    assert "at most 512" in too_long.stdout + too_long.stderr
    assert len(sent(xxl, "/jobinfo/trigger")) == 1


def test_log_list_answers_of_each_generation_are_read_by_their_shape() -> None:
    log = {"id": 3, "jobId": 7}
    assert page_rows({"recordsTotal": 1, "recordsFiltered": 1, "data": [log]}, "list") == [log]  # 2.x, 3.2
    assert page_rows({"code": 200, "msg": None, "data": {"data": [log], "total": 1}}, "list") == [log]  # 3.3
    with pytest.raises(RejectedError, match="请选择任务"):
        page_rows({"code": 500, "msg": "请选择任务", "data": None, "success": False}, "list")
    with pytest.raises(PlatformError, match="no `data`"):
        page_rows({"timestamp": 1, "status": 200}, "list")


def test_the_admins_escaped_log_markup_becomes_plain_lines() -> None:
    # As JobLogController.filter sends an executor's lines: <br> markup kept, the rest HTML-escaped.
    sent_text = (
        "2025-11-28 10:00:00 [com.xxl.job.core.thread.JobThread#run]-[128]-[xxl-job, JobThread-7-1] <br>----------- "
        "xxl-job job execute start -----------<br>----------- Param:{&quot;a&quot;:1}\r\n"
        "2025-11-28 10:00:01 [SampleXxlJob#demoJobHandler]-[44]-[xxl-job, JobThread-7-1] "
        "<b>a &lt; b</b> &amp;lt; &#39;x&#39;\n"
    )
    assert plain_log(sent_text).splitlines() == [
        "2025-11-28 10:00:00 [com.xxl.job.core.thread.JobThread#run]-[128]-[xxl-job, JobThread-7-1]",
        "----------- xxl-job job execute start -----------",
        '----------- Param:{"a":1}',
        "2025-11-28 10:00:01 [SampleXxlJob#demoJobHandler]-[44]-[xxl-job, JobThread-7-1] a < b &lt; 'x'",
    ]
