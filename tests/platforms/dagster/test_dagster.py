"""The CLI end to end against a real Dagster 1.13.27 (`dagster dev`, see dagster_server.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cli_runner import TOKEN, github_env, run_cli, start_cli
from dagster_server import Dagster, TokenProxy
from trigger_schedule.errors import AuthError, RejectedError, UnreachableError
from trigger_schedule.platforms.dagster import KEY_TAG, _Forecast, next_delay, raise_typed

FAST = ("--poll-interval", "200ms", "--poll-max-interval", "500ms")
CLI_TIMEOUT_S = 120


def trigger(dagster: Dagster, job: str, *extra: str, url: str | None = None) -> list[str]:
    return ["trigger", "--platform", "dagster", "--url", url or dagster.url, "--job", job, *FAST, *extra]


def record_params(path: Path, **values: Any) -> str:
    return json.dumps({"ops": {"record_config": {"config": {"path": str(path), **values}}}})


def slow_params(seconds: float) -> str:
    return json.dumps({"ops": {"nap": {"config": {"seconds": seconds}}}})


def result_of(path: Path) -> dict[str, Any]:
    (entry,) = json.loads(path.read_text())["triggers"]
    return entry  # type: ignore[no-any-return]


def visible(result: subprocess.CompletedProcess[str]) -> str:
    """What the CI log shows: GitHub consumes the `::add-mask::` lines (which name the secret) itself."""
    lines = (result.stdout + result.stderr).splitlines()
    return "\n".join(line for line in lines if not line.startswith("::add-mask::"))


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def test_success_passes_run_config_tags_provenance_and_streams_logs(dagster: Dagster, tmp_path: Path) -> None:
    out = tmp_path / "received.json"
    env = github_env()
    params = record_params(out, environment="production", batchSize=500, regions=["eu", "us"])
    result = run_cli(
        *trigger(dagster, "record", "--params", params, "--timeout", "90s", "--result-file", "r.json"),
        "--labels",
        '{"team": "data"}',
        env=env,
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    received = json.loads(out.read_text())
    assert received["config"] == {
        "path": str(out),
        "environment": "production",
        "batchSize": 500,
        "regions": ["eu", "us"],
    }
    entry = result_of(tmp_path / "r.json")
    assert (entry["decision"], entry["status"]) == ("triggered", "succeeded")
    assert entry["run_url"] == f"{dagster.url}/runs/{entry['run_id']}"
    tags = tags_of(dagster.run(entry["run_id"]))  # provenance, read back from the server
    assert tags[KEY_TAG] == entry["idempotency_key"]
    assert tags["team"] == "data"  # the trigger's labels: run tags
    assert tags["trigger-schedule/repository"] == "acme/shop"
    assert tags["trigger-schedule/sha"] == env["GITHUB_SHA"]
    assert tags["trigger-schedule/pipeline-url"] == "https://github.com/acme/shop/actions/runs/1/attempts/1"
    assert tags["trigger-schedule/actor"] == "octocat"
    assert received["tags"][KEY_TAG] == entry["idempotency_key"]  # the job sees them too
    assert "::group::record logs" in result.stdout
    assert "RUN_ENQUEUED" in result.stdout  # the first events, from the first poll, are not lost
    assert "recorded config with keys ['batchSize', 'environment', 'path', 'regions']" in result.stdout
    assert TOKEN not in visible(result)


def test_failed_run_exits_1_with_the_error_in_the_logs(dagster: Dagster, tmp_path: Path) -> None:
    result = run_cli(*trigger(dagster, "fail", "--timeout", "90s"), cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fail: failed" in result.stdout
    assert "this job fails on purpose" in result.stdout


def test_unknown_job_exits_4_naming_the_jobs(dagster: Dagster, tmp_path: Path) -> None:
    result = run_cli(*trigger(dagster, "no-such-job"), cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "Dagster has no job 'no-such-job'" in result.stderr
    assert "defs.py/__repository__/record" in result.stderr


def test_unknown_location_and_repository_exit_4(dagster: Dagster, tmp_path: Path) -> None:
    location = run_cli(*trigger(dagster, "record", "--platform-options", "{location: nowhere}"), cwd=tmp_path)
    assert location.returncode == 4
    assert "no code location 'nowhere'" in location.stderr and "defs.py" in location.stderr
    repository = run_cli(
        *trigger(dagster, "record", "--platform-options", "{location: defs.py, repository: nope}"), cwd=tmp_path
    )
    assert repository.returncode == 4
    assert "has no repository 'nope'" in repository.stderr and "__repository__" in repository.stderr


def test_invalid_run_config_exits_4_with_dagster_messages(dagster: Dagster, tmp_path: Path) -> None:
    params = json.dumps({"ops": {"record_config": {"config": {"no_path": 1}}}})
    result = run_cli(*trigger(dagster, "record", "--params", params), cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "rejected the run config" in result.stderr
    assert 'Missing required config entry "path"' in result.stderr


def test_wrong_token_exits_3_right_token_passes(dagster: Dagster, token_proxy: TokenProxy, tmp_path: Path) -> None:
    # Open-source Dagster has no auth: a proxy that checks Dagster+'s token header stands in front.
    wrong = run_cli(
        *trigger(dagster, "record", url=token_proxy.url), env={"TRIGGER_SCHEDULE_TOKEN": "wrong-token"}, cwd=tmp_path
    )
    assert wrong.returncode == 3, wrong.stderr
    assert "rejected the credentials (HTTP 401)" in wrong.stderr
    out = tmp_path / "via-proxy.json"
    right = run_cli(
        *trigger(dagster, "record", "--params", record_params(out), "--timeout", "90s", url=token_proxy.url),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert right.returncode == 0, right.stdout + right.stderr
    assert out.exists()


def test_lost_launch_answer_finds_the_run_instead_of_launching_again(
    dagster: Dagster, token_proxy: TokenProxy, tmp_path: Path
) -> None:
    token_proxy.reset(lost_launches=1)  # Dagster launched, but the answer became a 502
    out = tmp_path / "o.json"
    args = trigger(dagster, "record", "--params", record_params(out), "--timeout", "90s", url=token_proxy.url)
    result = run_cli(*args, "--result-file", "r.json", cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    assert token_proxy.state["launches"] == 1
    entry = result_of(tmp_path / "r.json")
    assert entry["decision"] == "triggered"  # its own run, so cancel-on-interrupt still applies
    assert [r["runId"] for r in dagster.runs(tags={KEY_TAG: entry["idempotency_key"]})] == [entry["run_id"]]


def test_rerun_of_the_same_ci_context_adopts_the_run(dagster: Dagster, tmp_path: Path) -> None:
    env = github_env()
    args = trigger(dagster, "record", "--params", record_params(tmp_path / "o.json"), "--timeout", "90s")
    first = run_cli(*args, "--result-file", "1.json", env=env, cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    second = run_cli(
        *args, "--result-file", "2.json", env={**env, "GITHUB_RUN_ATTEMPT": "2"}, cwd=tmp_path, timeout=CLI_TIMEOUT_S
    )
    assert (first.returncode, second.returncode) == (0, 0), second.stdout + second.stderr
    one, two = result_of(tmp_path / "1.json"), result_of(tmp_path / "2.json")
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"]
    assert [r["runId"] for r in dagster.runs(tags={KEY_TAG: one["idempotency_key"]})] == [one["run_id"]]


def test_sigterm_while_waiting_terminates_the_run(dagster: Dagster, tmp_path: Path) -> None:
    args = trigger(dagster, "slow", "--params", slow_params(120), "--timeout", "3m", "--result-file", "r.json")
    process = start_cli(*args, cwd=tmp_path)
    try:
        seen = _read_until(process, "STARTED", timeout=90)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, seen + output
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "cancelled" and "cancelled" in entry["reason"]
    assert dagster.wait_status(entry["run_id"], {"CANCELED"}) == "CANCELED"


def test_timeout_exits_6_and_on_timeout_cancel_terminates(dagster: Dagster, tmp_path: Path) -> None:
    args = trigger(dagster, "slow", "--params", slow_params(120), "--timeout", "4s", "--on-timeout", "cancel")
    result = run_cli(*args, "--result-file", "r.json", cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 6, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "timed-out"
    assert dagster.wait_status(entry["run_id"], {"CANCELED"}) == "CANCELED"


def test_dry_run_sends_nothing(dagster: Dagster, tmp_path: Path) -> None:
    env = github_env()
    result = run_cli(*trigger(dagster, "record", "--dry-run", "--params", "{ops: {}}"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"would send POST {dagster.url}/graphql" in result.stdout
    assert '"jobName": "record"' in result.stdout and "Dagster-Cloud-Api-Token" in result.stdout
    assert TOKEN not in visible(result)
    assert not [r for r in dagster.runs(job="record") if tags_of(r).get("trigger-schedule/sha") == env["GITHUB_SHA"]]


def _operations(stderr: str) -> list[str]:
    """The GraphQL operations a --debug log shows the CLI sending, in order."""
    return re.findall(r"-> POST \S+ .*?query\W+(?:mutation|query) (\w+)", stderr)


def test_waiting_follows_the_event_subscription_instead_of_polling(dagster: Dagster, tmp_path: Path) -> None:
    # The same 4 s run, followed on the subscription and then polled every 200 to 500 ms.
    params = json.dumps({"ops": {"nap": {"config": {"seconds": 4}}}})
    run = ("--params", params, "--timeout", "90s", "--force-new", "--debug")
    pushed = run_cli(
        *trigger(dagster, "slow", *run, "--result-file", "pushed.json"), cwd=tmp_path, timeout=CLI_TIMEOUT_S
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "polling instead" not in pushed.stderr
    assert "woke up" in pushed.stdout  # the run's log lines still reach the CI log
    off = '{"events": false, "predictive-polling": false}'
    polled = run_cli(*trigger(dagster, "slow", *run, "--platform-options", off), cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert polled.returncode == 0, polled.stdout + polled.stderr
    pushed_polls = _operations(pushed.stderr).count("TriggerScheduleStatusAndLogs")
    # Pushed: one poll after subscribing, one at the end, and at most one more per 10 s of waiting.
    waited = json.loads((tmp_path / "pushed.json").read_text())["triggers"][0]["duration_s"]
    polled_polls = _operations(polled.stderr).count("TriggerScheduleStatusAndLogs")
    assert 2 <= pushed_polls <= 2 + int(waited // 10) < polled_polls, (pushed_polls, waited, polled_polls)
    assert "TriggerScheduleLogs" not in _operations(pushed.stderr)  # log lines ride along with the polls


def test_with_history_polls_predictively_and_logs_ride_along(dagster: Dagster, tmp_path: Path) -> None:
    args = trigger(dagster, "record", "--params", record_params(tmp_path / "o.json"), "--timeout", "90s")
    args += ["--platform-options", '{"events": false}']  # predictive polling is what waits without events
    for _ in range(2):  # two successful runs: the history a forecast needs
        assert run_cli(*args, "--force-new", cwd=tmp_path, timeout=CLI_TIMEOUT_S).returncode == 0
    result = run_cli(*args, "--force-new", "--debug", cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    operations = _operations(result.stderr)
    launch = operations.index("TriggerScheduleLaunch")
    assert operations[launch + 1] == "TriggerScheduleFirstPoll"  # one request: status, logs and history
    assert "TriggerScheduleLogs" not in operations  # events come with each status poll
    assert "recorded config with keys ['path']" in result.stdout


def _read_until(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        if text in line:
            return seen
    pytest.fail(f"{text!r} not seen in {timeout:.0f} s:\n{seen}")


# -- the plug-in's pure parts: typed errors and the polling forecast --------------------------------


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"__typename": "UnauthorizedError", "message": "no"}, AuthError),
        ({"__typename": "PythonError", "message": "boom", "className": "KeyError"}, UnreachableError),
        ({"__typename": "RunConfigValidationInvalid", "errors": [{"message": "bad key"}]}, RejectedError),
        ({"__typename": "RepositoryLocationNotFound", "message": "gone"}, RejectedError),
        ({"__typename": "RunConflict", "message": "taken"}, RejectedError),
    ],
)
def test_typed_errors_map_to_exit_codes(answer: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        raise_typed(answer, "launch")


def test_forecast_polls_sparsely_then_densely_around_the_expected_end() -> None:
    forecast = _Forecast(from_start=(30.0, 30.5, 31.0), from_creation=(33.0, 34.0))
    window = forecast.window({"creationTime": 1000.0, "startTime": 1003.0})
    assert window == (1032.0, 1035.0)
    assert next_delay(1003.0, window, 0) == 15.0  # far from the end: few calls
    assert next_delay(1030.0, window, 0) == 2.0  # lands at the window's start
    assert next_delay(1033.0, window, 0) == 1.0  # inside: dense
    assert next_delay(1040.0, window, 3) > 1.0  # late: growing again
    assert forecast.window({"creationTime": 1000.0, "startTime": None}) == (1032.0, 1035.0)
