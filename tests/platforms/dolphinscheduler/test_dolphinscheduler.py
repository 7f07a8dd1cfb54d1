"""The CLI end to end against the stand-in DolphinScheduler (standin.py: tags 3.2.1/3.2.2, the 3.3 line, 3.4.3).

All of these run on the stand-in: no 3.2.x or 3.3.x DolphinScheduler server is published on Maven Central,
the only registry reachable here (docs/platforms/dolphinscheduler.md, "Why no real server runs in the tests").
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from cli_runner import TOKEN, github_env, run_cli, start_cli
from dolphin_standin_client import PROJECT, Dolphin
from servers.admin import wait_until as wait_for
from trigger_schedule.clock import FakeClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.base import PlatformConfig, RunState, TriggerRequest
from trigger_schedule.platforms.dolphinscheduler import STATES, DolphinSchedulerPlatform, _state_name

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")


def options(ds: Dolphin, **extra: Any) -> str:
    return json.dumps({"project-code": PROJECT, "api-version": ds.version, **extra})


def trigger(ds: Dolphin, job: str, *extra: str, opts: dict[str, Any] | None = None) -> list[str]:
    return [
        "trigger", "--platform", "dolphinscheduler", "--url", ds.api, "--job", job,
        "--platform-options", options(ds, **(opts or {})), *FAST, *extra,
    ]  # fmt: skip


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def test_success_sends_form_params_provenance_and_streams_logs(dolphin: Dolphin, tmp_path: Path) -> None:
    lines = [f"step {n}" for n in range(1, 9)]
    dolphin.definition("7001", duration=2.6, logs=lines, record_dir=str(tmp_path))
    result = run_cli(
        *trigger(
            dolphin,
            "7001",
            "--param",
            "version=1.2.3",
            "--params",
            '{"batch": 500, "full": true}',
            "--result-file",
            "r.json",
            opts={"worker-group": "etl", "tenant-code": "tenant-a"},
        ),
        env=github_env(GITHUB_SHA="ab" * 20),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "succeeded"
    recorded = json.loads((tmp_path / f"{entry['run_id']}.json").read_text())
    params = recorded["startParams"]
    assert {k: params[k] for k in ("version", "batch", "full")} == {"version": "1.2.3", "batch": "500", "full": "true"}
    assert params["TRIGGER_SCHEDULE_REPOSITORY"] == "acme/shop"
    assert params["TRIGGER_SCHEDULE_SHA"] == "ab" * 20
    assert params["TRIGGER_SCHEDULE_ACTOR"] == "octocat"
    assert params["TRIGGER_SCHEDULE_PIPELINE_URL"].startswith("https://github.com/acme/shop/actions/runs/1")
    assert params["TRIGGER_SCHEDULE_KEY"] == entry["idempotency_key"]
    form = recorded["form"]
    assert (form["workerGroup"], form["tenantCode"], form["failureStrategy"]) == ("etl", "tenant-a", "END")
    (start,) = dolphin.starts()
    assert start["content_type"].startswith("application/x-www-form-urlencoded")
    assert start["query"] == {}, "parameters go in the form body, not the URL"
    output = result.stdout + result.stderr
    for line in lines:
        assert output.count(line + "\n") == 1, output
    assert "[LOG-PATH]" not in output, "the api-server's head line of the first page is not the task's"
    log_reads = [r for r in dolphin.requests() if r["path"].endswith("/log/detail")]
    assert any(int(r["query"]["skipLineNum"]) > 0 for r in log_reads), "logs are read incrementally"
    if dolphin.version == "3.2":
        assert any(r["path"].endswith("/process-instances/trigger") for r in dolphin.requests())


def test_log_lines_are_counted_as_the_worker_counts_them(dolphin: Dolphin, tmp_path: Path) -> None:
    """The worker splits its log file on \\n, \\r and \\r\\n only; a form feed or U+2028 inside a line is text."""
    lines = ["form\x0cfeed", "line\u2028sep", "second", "third", "fourth"]
    dolphin.definition("7018", duration=1.0, logs=lines)
    result = run_cli(*trigger(dolphin, "7018", opts={"log-lines": 1}), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    for line in lines:
        assert output.count(line + "\n") == 1, output


def test_failed_run_exits_1(dolphin: Dolphin, tmp_path: Path) -> None:
    dolphin.definition("7002", outcome="failed", duration=0.2)
    result = run_cli(*trigger(dolphin, "7002", "--result-file", "r.json"), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result_of(tmp_path / "r.json")["status"] == "failed"


def test_v32_delayed_start_is_waited_on_and_a_blocked_instance_exits_1(
    dolphin_session: Dolphin, tmp_path: Path
) -> None:
    """3.2's DELAY_EXECUTION (a delayed start) is waited on; BLOCK (a blocking task held it) is final, not a success."""
    dolphin_session.admin("POST", "reset", {"api_version": "3.2"})
    dolphin_session.version = "3.2"
    dolphin_session.definition(
        "7015", first_state="DELAY_EXECUTION", submitted_for=1.0, duration=0.3, outcome="blocked"
    )
    result = run_cli(*trigger(dolphin_session, "7015", "--timeout", "20s", "--result-file", "r.json"), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "failed"
    reads = [
        r for r in dolphin_session.requests() if r["method"] == "GET" and r["path"].endswith(f"/{entry['run_id']}")
    ]
    assert len(reads) >= 2, "the delayed instance was read while waiting"


def test_warning_type_global_only_on_v32(dolphin: Dolphin, tmp_path: Path) -> None:
    dolphin.definition("7016", duration=0.1, record_dir=str(tmp_path))
    result = run_cli(
        *trigger(dolphin, "7016", "--result-file", "r.json", opts={"warning-type": "GLOBAL"}), cwd=tmp_path
    )
    if dolphin.version == "3.3":  # WarningType.GLOBAL is gone in 3.3: refused before anything is sent
        assert result.returncode == 2, result.stdout + result.stderr
        assert "warning-type" in result.stderr and dolphin.starts() == []
        return
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = json.loads((tmp_path / f"{result_of(tmp_path / 'r.json')['run_id']}.json").read_text())
    assert recorded["form"]["warningType"] == "GLOBAL"


def test_unknown_or_offline_definition_exits_4(dolphin: Dolphin, tmp_path: Path) -> None:
    unknown = run_cli(*trigger(dolphin, "999"), cwd=tmp_path)
    assert unknown.returncode == 4, unknown.stdout + unknown.stderr
    assert "999" in unknown.stderr
    dolphin.definition("7003", online=False)
    offline = run_cli(*trigger(dolphin, "7003"), cwd=tmp_path)
    assert offline.returncode == 4, offline.stdout + offline.stderr
    assert dolphin.instances() == []


def test_unknown_project_and_bad_tenant_exit_4(dolphin: Dolphin, tmp_path: Path) -> None:
    dolphin.definition("7004")
    project = run_cli(*trigger(dolphin, "7004", opts={"project-code": "42"}), cwd=tmp_path)
    assert project.returncode == 4, project.stdout + project.stderr
    tenant = run_cli(*trigger(dolphin, "7004", opts={"tenant-code": "nobody"}), cwd=tmp_path)
    assert tenant.returncode == 4 and "10017" in tenant.stderr, tenant.stderr


def test_wrong_token_or_no_project_permission_exits_3(dolphin: Dolphin, tmp_path: Path) -> None:
    dolphin.definition("7005")
    wrong = run_cli(*trigger(dolphin, "7005"), env={"TRIGGER_SCHEDULE_TOKEN": "nope"}, cwd=tmp_path)
    assert wrong.returncode == 3, wrong.stdout + wrong.stderr
    dolphin.admin("POST", "tokens", {"valid": [], "no_permission": ["limited"]})
    forbidden = run_cli(*trigger(dolphin, "7005"), env={"TRIGGER_SCHEDULE_TOKEN": "limited"}, cwd=tmp_path)
    assert forbidden.returncode == 3 and "30002" in forbidden.stderr, forbidden.stderr
    assert dolphin.instances() == []
    assert "nope" not in wrong.stdout + wrong.stderr and "limited" not in forbidden.stdout + forbidden.stderr


def test_rerun_of_the_same_ci_context_adopts_the_instance(dolphin: Dolphin, tmp_path: Path) -> None:
    dolphin.definition("7006", duration=0.3)
    env = github_env()
    first = run_cli(*trigger(dolphin, "7006", "--result-file", "1.json"), env=env, cwd=tmp_path)
    second = run_cli(
        *trigger(dolphin, "7006", "--result-file", "2.json"), env={**env, "GITHUB_RUN_ATTEMPT": "2"}, cwd=tmp_path
    )
    assert (first.returncode, second.returncode) == (0, 0), second.stdout + second.stderr
    one, two = result_of(tmp_path / "1.json"), result_of(tmp_path / "2.json")
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"]
    assert len(dolphin.instances()) == 1 and len(dolphin.starts()) == 1


def test_rerun_adopts_when_the_list_answers_summaries_only(dolphin_session: Dolphin, tmp_path: Path) -> None:
    """3.4.3 lists WorkflowInstanceSummaryVO, without the start parameters: the key is read from the instance."""
    dolphin_session.admin("POST", "reset", {"api_version": "3.3", "list_summaries": True})
    dolphin_session.version = "3.3"
    dolphin_session.definition("7017", duration=0.3)
    env = github_env()
    first = run_cli(*trigger(dolphin_session, "7017", "--result-file", "1.json"), env=env, cwd=tmp_path)
    env2 = {**env, "GITHUB_RUN_ATTEMPT": "2"}
    second = run_cli(*trigger(dolphin_session, "7017", "--result-file", "2.json"), env=env2, cwd=tmp_path)
    assert (first.returncode, second.returncode) == (0, 0), second.stdout + second.stderr
    one, two = result_of(tmp_path / "1.json"), result_of(tmp_path / "2.json")
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"] and len(dolphin_session.starts()) == 1


def test_without_correlation_param_a_rerun_starts_again(dolphin33: Dolphin, tmp_path: Path) -> None:
    dolphin33.definition("7007", duration=0.1)
    env = github_env()
    args = trigger(dolphin33, "7007", opts={"correlation-param": None})
    assert run_cli(*args, env=env, cwd=tmp_path).returncode == 0
    assert run_cli(*args, env=env, cwd=tmp_path).returncode == 0
    assert len(dolphin33.instances()) == 2


def test_two_triggers_of_one_job_at_once_each_follow_their_own_instance(dolphin: Dolphin, tmp_path: Path) -> None:
    dolphin.definition("7008", duration=0.6, record_dir=str(tmp_path))
    plan = {
        "version": 1,
        "platforms": {"ds": {"type": "dolphinscheduler", "url": dolphin.api, "options": json.loads(options(dolphin))}},
        "defaults": {"poll-interval": "100ms", "poll-max-interval": "300ms"},
        "triggers": [
            {"name": "sync-eu", "job": "7008", "params": {"region": "eu"}},
            {"name": "sync-us", "job": "7008", "params": {"region": "us"}},
        ],
    }
    (tmp_path / "plan.yml").write_text(json.dumps(plan))
    result = run_cli("run", "-c", "plan.yml", "--result-file", "r.json", env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entries = {t["name"]: t for t in json.loads((tmp_path / "r.json").read_text())["triggers"]}
    assert entries["sync-eu"]["run_id"] != entries["sync-us"]["run_id"]
    for name, region in (("sync-eu", "eu"), ("sync-us", "us")):
        recorded = json.loads((tmp_path / f"{entries[name]['run_id']}.json").read_text())
        assert recorded["startParams"]["region"] == region


def test_sigterm_while_waiting_stops_the_instance(dolphin: Dolphin, tmp_path: Path) -> None:
    # The instance stays SUBMITTED_SUCCESS for a while: the first STOP is refused (3.2: 50015, 3.3: 10000) and retried.
    dolphin.definition("7009", duration=60, submitted_for=1.5, logs=["working"])
    args = trigger(dolphin, "7009", "--timeout", "2m", "--result-file", "r.json")
    process = start_cli(*args, cwd=tmp_path)
    try:
        # 3.2: also before the instance exists (the trigger code not yet resolved).
        wait_for(lambda: any(r["method"] == "GET" and "-instances/" in r["path"] for r in dolphin.requests()), 20)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, output
    (instance,) = dolphin.instances()
    assert instance["stop_requested"] is True
    wait_for(lambda: dolphin.instances()[0]["state"] == "STOP", 5)
    stops = [r for r in dolphin.requests() if r["path"].endswith("/executors/execute")]
    key = "workflowInstanceId" if dolphin.version == "3.3" else "processInstanceId"
    assert len(stops) >= 2, "the STOP refused while SUBMITTED_SUCCESS is sent again"
    assert all(r["form"][key] == str(instance["id"]) for r in stops)
    assert stops[-1]["form"]["executeType"] == "STOP"


def test_timeout_exits_6(dolphin33: Dolphin, tmp_path: Path) -> None:
    dolphin33.definition("7010", duration=60)
    result = run_cli(*trigger(dolphin33, "7010", "--timeout", "2s", "--result-file", "r.json"), cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    assert result_of(tmp_path / "r.json")["status"] == "timed-out"
    (instance,) = dolphin33.instances()
    assert instance["stop_requested"] is False  # on-timeout: leave


def test_timeout_with_on_timeout_cancel_stops_the_instance_and_exits_6(dolphin: Dolphin, tmp_path: Path) -> None:
    # The wait ends while the instance is still SUBMITTED_SUCCESS: the refused STOP is retried until it runs.
    dolphin.definition("7014", duration=60, submitted_for=2.5)
    args = trigger(dolphin, "7014", "--timeout", "1s", "--on-timeout", "cancel", "--result-file", "r.json")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    assert result_of(tmp_path / "r.json")["status"] == "timed-out"
    (instance,) = dolphin.instances()
    assert instance["stop_requested"] is True
    wait_for(lambda: dolphin.instances()[0]["state"] == "STOP", 5)


def test_concurrency_skip_sees_active_instances(dolphin33: Dolphin, tmp_path: Path) -> None:
    dolphin33.definition("7011", duration=30)
    dolphin33.definition("7012", duration=0.1)
    first = run_cli(*trigger(dolphin33, "7011", "--no-wait"), env=github_env(), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    skipped = run_cli(
        *trigger(dolphin33, "7011", "--concurrency", "skip", "--result-file", "r.json"), env=github_env(), cwd=tmp_path
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert result_of(tmp_path / "r.json")["decision"] == "skipped"
    other = run_cli(*trigger(dolphin33, "7012", "--concurrency", "skip"), env=github_env(), cwd=tmp_path)
    assert other.returncode == 0 and len(dolphin33.instances()) == 2


def test_non_numeric_job_is_a_usage_error_and_dry_run_sends_nothing(dolphin33: Dolphin, tmp_path: Path) -> None:
    named = run_cli(*trigger(dolphin33, "data-sync"), cwd=tmp_path)
    assert named.returncode == 2, named.stdout + named.stderr
    dry = run_cli(*trigger(dolphin33, "7013", "--dry-run"), cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "start-workflow-instance" in dry.stdout + dry.stderr
    assert dolphin33.starts() == []


@pytest.mark.parametrize(
    ("value", "name", "state"),
    [
        (0, "SUBMITTED_SUCCESS", RunState.RUNNING),
        ("1", "RUNNING_EXECUTION", RunState.RUNNING),
        (17, "WAIT_TO_RUN", RunState.RUNNING),
        (18, "FAILOVER", RunState.RUNNING),
        (12, "DELAY_EXECUTION", RunState.RUNNING),
        (15, "READY_BLOCK", RunState.RUNNING),
        (16, "BLOCK", RunState.FAILED),
        ("SUCCESS", "SUCCESS", RunState.SUCCEEDED),
        (6, "FAILURE", RunState.FAILED),
        ("STOP", "STOP", RunState.CANCELLED),
        (3, "PAUSE", RunState.CANCELLED),
        ({"code": 4, "desc": "ready stop"}, "READY_STOP", RunState.RUNNING),
    ],
)
def test_state_names_and_codes_of_workflow_execution_status(value: Any, name: str, state: RunState) -> None:
    assert _state_name(value) == name
    assert STATES[name] is state


def test_v32_trigger_code_not_yet_an_instance_is_followed_until_it_is(dolphin_session: Dolphin) -> None:
    """The master consumes the start command late: the run starts as its trigger code, then resolves."""
    dolphin_session.admin("POST", "reset", {"api_version": "3.2"})
    dolphin_session.definition("7020", command_delay=1.0, duration=0.2)
    config = PlatformConfig(
        name="ds",
        type="dolphinscheduler",
        url=dolphin_session.api,
        token=TOKEN,
        options={"project-code": PROJECT, "api-version": "3.2"},
    )
    clock = FakeClock()  # its sleeps do not pass real time: the resolution gives up before the master acts
    platform = DolphinSchedulerPlatform(config, HttpClient(HttpOptions(max_attempts=1), clock), clock)
    outcome = platform.trigger(TriggerRequest(job="7020", params={}, idempotency_key="ts-k"), None)
    assert outcome.run.run_id.startswith("trigger-")
    assert platform.status(outcome.run, None).raw == "COMMAND_QUEUED"
    wait_for(lambda: platform.status(outcome.run, None).state is RunState.SUCCEEDED, 10)
    (instance,) = dolphin_session.instances()
    assert platform.status(outcome.run, None).url is not None
    assert str(instance["id"]) in str(platform.status(outcome.run, None).url)
