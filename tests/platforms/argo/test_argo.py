"""The CLI end to end against the stand-in Argo Server (standin.py, following argo-workflows v3.7.18)."""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argo_standin_client import Argo
from cli_runner import TOKEN, github_env, run_cli, start_cli
from servers.admin import wait_until as _wait_for
from trigger_schedule.clock import SystemClock
from trigger_schedule.errors import RejectedError
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.argo import ArgoPlatform, label_value, workflow_name
from trigger_schedule.platforms.base import PlatformConfig, RunState, TriggerRequest

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def trigger(argo: Argo, job: str, *extra: str) -> list[str]:
    return ["trigger", "--platform", "argo", "--url", argo.url, "--job", job, *FAST, *extra]


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def submits(argo: Argo) -> list[dict[str, Any]]:
    return [r for r in argo.requests() if r["method"] == "POST" and r["path"].endswith("/submit")]


def test_success_passes_parameters_labels_and_streams_logs(argo: Argo, tmp_path: Path) -> None:
    argo.template(
        "data-sync",
        parameters={"environment": None, "version": "0.0.0"},
        logs=["syncing {environment} at {version}", "synced 42 rows"],
        duration=0.8,
        record_dir=str(tmp_path),
    )
    env = github_env()
    args = trigger(argo, "data-sync", "--param", "environment=production", "--param", "version=1.2.3")
    result = run_cli(*args, "--labels", '{"team": "data"}', "--result-file", "r.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    name = entry["run_id"]
    assert name == workflow_name("data-sync", entry["idempotency_key"]) and NAME.match(name) and len(name) <= 63
    assert entry["run_url"] == f"{argo.url}/workflows/argo/{name}"
    recorded = json.loads((tmp_path / f"{name}.json").read_text())
    assert recorded["parameters"] == {"environment": "production", "version": "1.2.3"}
    labels = recorded["labels"]
    assert labels["workflows.argoproj.io/workflow-template"] == "data-sync"
    assert labels["team"] == "data"  # the trigger's labels
    assert labels["trigger-schedule/repository"] == "acme_shop"
    assert labels["trigger-schedule/sha"] == env["GITHUB_SHA"][:12]
    assert labels["trigger-schedule/actor"] == "octocat"
    (workflow,) = argo.workflows()
    pipeline = workflow["metadata"]["annotations"]["trigger-schedule/pipeline-url"]
    assert pipeline.startswith("https://github.com/acme/shop/actions/runs/1")
    assert "syncing production at 1.2.3" in result.stdout and "synced 42 rows" in result.stdout
    assert result.stdout.count("synced 42 rows") == 1  # incremental: each line once
    (submit,) = submits(argo)
    assert submit["headers"]["authorization"] == f"Bearer {TOKEN}"
    body = json.loads(submit["body"])
    assert body["resourceKind"] == "WorkflowTemplate" and body["resourceName"] == "data-sync"
    assert body["submitOptions"]["parameters"] == ["environment=production", "version=1.2.3"]
    logs = [r for r in argo.requests() if r["path"].endswith("/log")]
    assert logs and logs[0]["query"] == {"logOptions.container": "main", "logOptions.follow": "false"}


def test_failed_and_errored_workflows_exit_1(argo: Argo, tmp_path: Path) -> None:
    argo.template("broken", outcome="failed", duration=0.3, logs=["boom: table missing"])
    argo.template("crashed", outcome="error", duration=0.3)
    failed = run_cli(*trigger(argo, "broken", "--result-file", "f.json"), cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert result_of(tmp_path / "f.json")["status"] == "failed"
    assert "boom: table missing" in failed.stdout
    errored = run_cli(*trigger(argo, "crashed"), cwd=tmp_path)
    assert errored.returncode == 1, errored.stdout + errored.stderr


def test_unknown_template_exits_4_naming_it(argo: Argo, tmp_path: Path) -> None:
    result = run_cli(*trigger(argo, "no-such-template"), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert 'workflowtemplates.argoproj.io "no-such-template" not found' in result.stderr
    assert "WorkflowTemplate no-such-template exists in namespace argo" in result.stderr


def test_missing_required_parameter_exits_4(argo: Argo, tmp_path: Path) -> None:
    argo.template("needs-env", parameters={"environment": None})
    result = run_cli(*trigger(argo, "needs-env"), cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "spec.arguments.environment.value is required" in result.stderr


def test_wrong_or_forbidden_token_exits_3(argo: Argo, tmp_path: Path) -> None:
    argo.template("data-sync")
    wrong = run_cli(*trigger(argo, "data-sync"), env={"TRIGGER_SCHEDULE_TOKEN": "nope"}, cwd=tmp_path)
    assert wrong.returncode == 3, wrong.stdout + wrong.stderr
    assert "token not valid" in wrong.stderr
    argo.admin("POST", "tokens", {"valid": [TOKEN], "forbidden": ["reader"]})
    forbidden = run_cli(*trigger(argo, "data-sync"), env={"TRIGGER_SCHEDULE_TOKEN": "reader"}, cwd=tmp_path)
    assert forbidden.returncode == 3, forbidden.stdout + forbidden.stderr
    assert not argo.workflows()


def test_token_as_printed_by_argo_auth_token_is_accepted(argo: Argo, tmp_path: Path) -> None:
    argo.template("data-sync", duration=0.2)
    result = run_cli(*trigger(argo, "data-sync"), env={"TRIGGER_SCHEDULE_TOKEN": f"Bearer {TOKEN}"}, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (submit,) = submits(argo)
    assert submit["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in result.stdout + result.stderr


def test_rerun_of_the_same_ci_context_adopts_the_workflow(argo: Argo, tmp_path: Path) -> None:
    argo.template("data-sync", duration=0.3)
    env = github_env()
    first = run_cli(*trigger(argo, "data-sync", "--result-file", "1.json"), env=env, cwd=tmp_path)
    second = run_cli(
        *trigger(argo, "data-sync", "--result-file", "2.json"), env={**env, "GITHUB_RUN_ATTEMPT": "2"}, cwd=tmp_path
    )
    assert (first.returncode, second.returncode) == (0, 0), second.stdout + second.stderr
    one, two = result_of(tmp_path / "1.json"), result_of(tmp_path / "2.json")
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"]
    assert len(argo.workflows()) == 1 and len(submits(argo)) == 1


def test_two_ci_jobs_racing_on_one_context_make_one_workflow(argo: Argo, tmp_path: Path) -> None:
    """Both look up, find nothing, both submit: the loser gets 409 AlreadyExists and adopts."""
    argo.template("data-sync", duration=1.0)
    env = github_env()
    with ThreadPoolExecutor(2) as pool:
        runs = list(
            pool.map(
                lambda n: run_cli(*trigger(argo, "data-sync", "--result-file", f"{n}.json"), env=env, cwd=tmp_path),
                (1, 2),
            )
        )
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    entries = [result_of(tmp_path / f"{n}.json") for n in (1, 2)]
    assert entries[0]["run_id"] == entries[1]["run_id"]
    assert len(argo.workflows()) == 1


def test_two_triggers_of_one_job_at_once_each_find_their_own_workflow(argo: Argo, tmp_path: Path) -> None:
    argo.template("data-sync", parameters={"region": None}, duration=0.6, record_dir=str(tmp_path))
    plan = {
        "version": 1,
        "platforms": {"argo": {"type": "argo", "url": argo.url}},
        "defaults": {"poll-interval": "100ms", "poll-max-interval": "300ms"},
        "triggers": [
            {"name": "sync-eu", "job": "data-sync", "params": {"region": "eu"}},
            {"name": "sync-us", "job": "data-sync", "params": {"region": "us"}},
        ],
    }
    (tmp_path / "plan.yml").write_text(json.dumps(plan))
    result = run_cli("run", "-c", "plan.yml", "--result-file", "r.json", env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entries = {t["name"]: t for t in json.loads((tmp_path / "r.json").read_text())["triggers"]}
    assert entries["sync-eu"]["run_id"] != entries["sync-us"]["run_id"]
    for name, region in (("sync-eu", "eu"), ("sync-us", "us")):
        recorded = json.loads((tmp_path / f"{entries[name]['run_id']}.json").read_text())
        assert recorded["parameters"] == {"region": region}


def test_sigterm_while_waiting_stops_the_workflow(argo: Argo, tmp_path: Path) -> None:
    argo.template("slow", duration=60, logs=["working"])
    args = trigger(argo, "slow", "--timeout", "2m", "--result-file", "r.json")
    process = start_cli(*args, cwd=tmp_path)
    try:
        _wait_for(lambda: any(w["status"].get("phase") == "Running" for w in argo.workflows()), 20)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, output
    (workflow,) = argo.workflows()
    assert workflow["spec"]["shutdown"] == "Stop"
    assert workflow["status"]["phase"] == "Failed"
    stops = [r for r in argo.requests() if r["method"] == "PUT"]
    assert [r["path"] for r in stops] == [f"/api/v1/workflows/argo/{workflow['metadata']['name']}/stop"]


def test_timeout_exits_6_and_on_timeout_cancel_stops(argo: Argo, tmp_path: Path) -> None:
    argo.template("slow", duration=60)
    args = trigger(argo, "slow", "--timeout", "2s", "--on-timeout", "cancel", "--result-file", "r.json")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 6, result.stdout + result.stderr
    assert result_of(tmp_path / "r.json")["status"] == "timed-out"
    (workflow,) = argo.workflows()
    assert workflow["spec"]["shutdown"] == "Stop"


def test_concurrency_skip_sees_active_workflows_of_the_template(argo: Argo, tmp_path: Path) -> None:
    argo.template("slow", duration=30)
    argo.template("other", duration=30)
    other = run_cli(*trigger(argo, "other", "--no-wait"), env=github_env(), cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    idle = run_cli(*trigger(argo, "slow", "--no-wait", "--concurrency", "skip"), env=github_env(), cwd=tmp_path)
    assert idle.returncode == 0 and len(argo.workflows()) == 2, idle.stdout + idle.stderr
    busy = run_cli(
        *trigger(argo, "slow", "--concurrency", "skip", "--result-file", "r.json"), env=github_env(), cwd=tmp_path
    )
    assert busy.returncode == 0, busy.stdout + busy.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["decision"] == "skipped" and "already has active run" in entry["reason"]
    assert len(argo.workflows()) == 2
    lists = [r for r in argo.requests() if r["method"] == "GET" and r["path"] == "/api/v1/workflows/argo"]
    assert lists[-1]["query"]["listOptions.labelSelector"] == "workflows.argoproj.io/workflow-template=slow"


def test_dry_run_sends_nothing(argo: Argo, tmp_path: Path) -> None:
    argo.template("data-sync")
    result = run_cli(*trigger(argo, "data-sync", "--dry-run", "--param", "a=1"), env=github_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{argo.url}/api/v1/workflows/argo/submit" in result.stdout
    assert '"resourceKind": "WorkflowTemplate"' in result.stdout and '"a=1"' in result.stdout
    assert TOKEN not in visible(result)
    assert not argo.requests()


def test_names_and_label_values_are_valid_kubernetes_values() -> None:
    long_job = "Nightly_Data.Sync/" + "x" * 80
    name = workflow_name(long_job, "ts-" + "a" * 40 + "-retry1")
    assert len(name) <= 63 and NAME.match(name)
    assert workflow_name("sync", "k1") != workflow_name("sync", "k2")
    assert workflow_name("sync", "k1") == workflow_name("sync", "k1")
    assert workflow_name("___", "k").startswith("ts-")
    assert label_value("acme/shop") == "acme_shop"
    assert label_value("-" + "a" * 80) == "a" * 62
    assert label_value("___") == ""


def platform(argo: Argo, token: str = TOKEN) -> ArgoPlatform:
    config = PlatformConfig(name="argo", type="argo", url=argo.url, token=token)
    clock = SystemClock()
    return ArgoPlatform(config, HttpClient(HttpOptions(max_attempts=1), clock), clock)


def test_submit_meeting_409_already_exists_adopts_that_workflow(argo: Argo) -> None:
    """The lost-answer and race case: the POST of an existing name is answered 409 and adopted."""
    argo.template("data-sync", duration=0.2)
    request = TriggerRequest(job="data-sync", params={}, idempotency_key="ts-" + secrets.token_hex(20))
    first = platform(argo).trigger(request, None)
    second = platform(argo).trigger(request, None)
    assert (first.adopted, second.adopted) == (False, True)
    assert first.run.run_id == second.run.run_id
    assert [r["path"] for r in submits(argo)] == ["/api/v1/workflows/argo/submit"] * 2
    assert len(argo.workflows()) == 1


def test_a_name_taken_by_another_template_is_rejected_not_adopted(argo: Argo) -> None:
    argo.template("data-sync", duration=0.2)
    argo.template("cache-refresh", duration=0.2)
    key = "ts-" + secrets.token_hex(20)
    taken = workflow_name("data-sync", key)  # a hand-made Workflow of another template holds our name
    body = {"resourceKind": "WorkflowTemplate", "resourceName": "cache-refresh", "submitOptions": {"name": taken}}
    request = urllib.request.Request(
        f"{argo.url}/api/v1/workflows/argo/submit",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()
    with pytest.raises(RejectedError, match="was not submitted from template data-sync"):
        platform(argo).trigger(TriggerRequest(job="data-sync", params={}, idempotency_key=key), None)


def test_stopping_a_finished_workflow_is_not_an_error(argo: Argo) -> None:
    argo.template("quick", duration=0.1)
    request = TriggerRequest(job="quick", params={}, idempotency_key="ts-" + secrets.token_hex(20))
    plugin = platform(argo)
    run = plugin.trigger(request, None).run
    _wait_for(lambda: plugin.status(run, None).state is RunState.SUCCEEDED, 10)
    plugin.cancel(run)  # the server answers 500 "cannot shutdown a completed workflow"
    assert plugin.status(run, None).state is RunState.SUCCEEDED


def test_stopped_workflow_reads_as_cancelled_and_logs_are_incremental(argo: Argo) -> None:
    argo.template("slow", duration=2.0, logs=["one", "two", "three", "four"])
    request = TriggerRequest(job="slow", params={}, idempotency_key="ts-" + secrets.token_hex(20))
    plugin = platform(argo)
    run = plugin.trigger(request, None).run
    texts: list[str] = []
    cursor: Any = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "".join(texts).count("\n") < 2:
        chunk = plugin.logs(run, cursor)
        assert chunk is not None
        texts.append(chunk.text)
        cursor = chunk.cursor
        time.sleep(0.1)
    plugin.cancel(run)
    status = plugin.status(run, None)
    assert status.state is RunState.CANCELLED and "Stopped with strategy 'Stop'" in status.raw
    final = plugin.logs(run, cursor)
    assert final is not None
    assert ("".join(texts) + final.text).splitlines() == ["one", "two"]


def visible(result: subprocess.CompletedProcess[str]) -> str:
    """What the CI log shows: GitHub consumes the `::add-mask::` lines (which name the secret) itself."""
    lines = (result.stdout + result.stderr).splitlines()
    return "\n".join(line for line in lines if not line.startswith("::add-mask::"))
