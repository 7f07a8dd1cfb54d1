"""The real CLI against real Airflow servers: each test runs on Airflow 3 (API v2) and Airflow 2 (API v1)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from airflow_harness import CREDENTIALS, AirflowServer, cli_args
from cli_runner import clean_env, run_cli

CLI_TIMEOUT_S = 150


def _github_env(sha: str) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": sha,
        "GITHUB_RUN_ID": "1",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_ACTOR": "octo-deployer",
        "GITHUB_REF": "refs/heads/main",
    }


def _result(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_success_passes_params_and_streams_logs(airflow: AirflowServer, tmp_path: Path) -> None:
    marker = f"m-{uuid.uuid4().hex[:8]}"
    record = tmp_path / "conf.json"
    params = {"marker": marker, "record_to": str(record), "batchSize": 500, "fullRefresh": True, "regions": ["eu"]}
    done = run_cli(
        *cli_args(airflow, "ts_success", "--params", json.dumps(params), "--timeout", "120s"),
        "--result-file",
        str(tmp_path / "result.json"),
        env=CREDENTIALS,
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    received = json.loads(record.read_text(encoding="utf-8"))
    assert received["conf"] == params  # types kept: number, boolean, list
    assert received["run_id"].startswith("ci__ts-")
    # The task's own log line, streamed into the CLI output.
    keys = ["batchSize", "fullRefresh", "marker", "record_to", "regions"]
    assert f"ts-marker: received conf with keys {keys} for {marker}" in done.stdout
    result = _result(tmp_path / "result.json")["triggers"][0]
    assert result["status"] == "succeeded" and result["run_id"] == received["run_id"]
    if airflow.major == 3:
        assert result["run_url"] == f"{airflow.url}/dags/ts_success/runs/{received['run_id']}"
    else:
        assert result["run_url"] == f"{airflow.url}/dags/ts_success/grid?dag_run_id={received['run_id']}"
    assert airflow.get_run("ts_success", received["run_id"])["state"] == "success"


def test_failed_run_exits_1_with_its_log(airflow: AirflowServer) -> None:
    done = run_cli(*cli_args(airflow, "ts_fail", "--timeout", "120s"), env=CREDENTIALS, timeout=CLI_TIMEOUT_S)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ts-failure: this task fails on purpose" in done.stdout
    assert "ended failed" in done.stdout + done.stderr


def test_unknown_dag_exits_4(airflow: AirflowServer) -> None:
    done = run_cli(*cli_args(airflow, "no_such_dag"), env=CREDENTIALS, timeout=CLI_TIMEOUT_S)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "DAG no_such_dag does not exist" in done.stderr
    assert "DAG id shown in the Airflow UI" in done.stderr


def test_wrong_credentials_exit_3_without_leaking_them(airflow: AirflowServer) -> None:
    wrong = "wrong-CANARY-pass-7d1"
    done = run_cli(
        *cli_args(airflow, "ts_success"), env={**CREDENTIALS, "AIRFLOW_PASSWORD": wrong}, timeout=CLI_TIMEOUT_S
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert wrong not in done.stdout + done.stderr


def test_rerun_adopts_the_same_run_with_provenance(airflow: AirflowServer, tmp_path: Path) -> None:
    sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    marker = f"adopt-{sha[:8]}"
    env = _github_env(sha)
    args = [*cli_args(airflow, "ts_success", "--param", f"marker={marker}", "--timeout", "120s")]
    args += ["--labels", '{"team": "data"}']
    first = run_cli(*args, "--result-file", str(tmp_path / "1.json"), env=env, timeout=CLI_TIMEOUT_S)
    assert first.returncode == 0, first.stdout + first.stderr
    second = run_cli(*args, "--result-file", str(tmp_path / "2.json"), env=env, timeout=CLI_TIMEOUT_S)
    assert second.returncode == 0, second.stdout + second.stderr
    one, two = _result(tmp_path / "1.json")["triggers"][0], _result(tmp_path / "2.json")["triggers"][0]
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"]
    runs = [r for r in airflow.list_runs("ts_success") if (r.get("conf") or {}).get("marker") == marker]
    assert [r["dag_run_id"] for r in runs] == [one["run_id"]]  # exactly one downstream run
    note = runs[0]["note"]
    for expected in ("acme/shop", sha, "https://github.example/acme/shop/actions/runs/1", "octo-deployer", "team=data"):
        assert expected in note, note


def test_conflict_on_trigger_is_adopted(airflow: AirflowServer) -> None:
    """The run appears between the lookup and the POST (two CI attempts racing): 409 → adopt."""
    from trigger_schedule.clock import SystemClock
    from trigger_schedule.http import HttpClient, HttpOptions
    from trigger_schedule.platforms.airflow import AirflowPlatform
    from trigger_schedule.platforms.base import PlatformConfig, TriggerRequest

    config = PlatformConfig(
        name="af", type="airflow", url=airflow.url, auth_type="basic", username="admin", password="admin"
    )
    platform = AirflowPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())
    request = TriggerRequest(job="ts_success", params={"marker": "race"}, idempotency_key=f"race-{uuid.uuid4().hex}")
    first = platform.trigger(request, None)
    again = platform.trigger(request, None)
    assert not first.adopted and again.adopted
    assert again.run.run_id == first.run.run_id == f"ci__{request.idempotency_key}"


def test_sigterm_cancels_the_run_and_exits_143(airflow: AirflowServer, tmp_path: Path) -> None:
    result_file = tmp_path / "result.json"
    command = [
        sys.executable,
        "-m",
        "trigger_schedule",
        *cli_args(airflow, "ts_slow", "--params", '{"seconds": 120}', "--timeout", "300s", "--no-logs"),
        "--force-new",
        "--result-file",
        str(result_file),
    ]
    process = subprocess.Popen(
        command, env=clean_env(CREDENTIALS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        run_id = _wait_for_run_id(output, process)
        airflow.wait_run_state("ts_slow", run_id, {"running"}, timeout=90)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143, "".join(output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    reader.join(timeout=10)
    assert airflow.get_run("ts_slow", run_id)["state"] == "failed"  # cancelled: Airflow's word is failed
    assert _result(result_file)["triggers"][0]["status"] == "cancelled"


def _wait_for_run_id(output: list[str], process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        for line in list(output):
            if "triggered ts_slow run " in line:
                return line.split("triggered ts_slow run ", 1)[1].split()[0]
        time.sleep(0.2)
    raise AssertionError("the CLI never printed the run it triggered:\n" + "".join(output))


def test_timeout_exits_6_and_cancels_on_request(airflow: AirflowServer, tmp_path: Path) -> None:
    done = run_cli(
        *cli_args(airflow, "ts_slow", "--params", '{"seconds": 90}', "--timeout", "4s", "--on-timeout", "cancel"),
        "--force-new",
        "--result-file",
        str(tmp_path / "result.json"),
        env=CREDENTIALS,
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 6, done.stdout + done.stderr
    run_id = _result(tmp_path / "result.json")["triggers"][0]["run_id"]
    assert airflow.get_run("ts_slow", run_id)["state"] == "failed"


def test_paused_dag_fails_fast_or_is_unpaused(airflow: AirflowServer) -> None:
    airflow.set_paused("ts_fail", True)
    try:
        paused = run_cli(*cli_args(airflow, "ts_fail", "--force-new"), env=CREDENTIALS, timeout=CLI_TIMEOUT_S)
        assert paused.returncode == 4, paused.stdout + paused.stderr
        assert "DAG ts_fail is paused" in paused.stderr and "unpause: true" in paused.stderr
        unpaused = run_cli(
            *cli_args(airflow, "ts_fail", "--force-new", "--no-logs", "--platform-options", "{unpause: true}"),
            env=CREDENTIALS,
            timeout=CLI_TIMEOUT_S,
        )
        assert unpaused.returncode == 1, unpaused.stdout + unpaused.stderr  # it ran, and failed as it should
        assert airflow.request("GET", "/dags/ts_fail").json()["is_paused"] is False
    finally:
        airflow.set_paused("ts_fail", False)


def test_example_plan_runs_in_needs_order(airflow: AirflowServer, tmp_path: Path) -> None:
    """examples/.trigger-schedule.yml (what scripts/demo_airflow.sh runs) with examples/dags/."""
    plan = Path(__file__).resolve().parents[3] / "examples" / ".trigger-schedule.yml"
    done = run_cli(
        "run",
        "--config",
        str(plan),
        "--environment",
        "production",
        "--deploy-version",
        "1.2.0",
        "--previous-version",
        "1.1.0",
        "--force-new",
        "--result-file",
        str(tmp_path / "result.json"),
        env={"AIRFLOW_URL": airflow.url, **CREDENTIALS},
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    triggers = {t["name"]: t for t in _result(tmp_path / "result.json")["triggers"]}
    assert {name: t["status"] for name, t in triggers.items()} == dict.fromkeys(
        ("data-sync", "cache-refresh", "data-validation"), "succeeded"
    )
    sync_run = airflow.get_run("data_sync_after_deployment", triggers["data-sync"]["run_id"])
    assert sync_run["conf"]["fullRefresh"] is True and sync_run["conf"]["batchSize"] == 500
    later = [airflow.get_run(t["job"], t["run_id"]) for n, t in triggers.items() if n != "data-sync"]
    assert all(run["start_date"] >= sync_run["end_date"] for run in later)  # needs: after data-sync ended
    assert "sync complete:" in done.stdout and "all 4 checks passed" in done.stdout


def test_debug_log_shows_no_credentials_or_api_token(airflow: AirflowServer) -> None:
    done = run_cli(
        *cli_args(airflow, "ts_success", "--params", '{"marker": "dbg"}', "--timeout", "120s", "--debug"),
        env=CREDENTIALS,
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "debug: -> " in done.stderr
    output = done.stdout + done.stderr
    assert CREDENTIALS["AIRFLOW_PASSWORD"] not in output
    if airflow.major == 3:
        assert "/auth/token" in output and "(not logged: it carries credentials)" in output
        assert "access_token" not in output and "eyJ" not in output  # no JWT, whole or in part
