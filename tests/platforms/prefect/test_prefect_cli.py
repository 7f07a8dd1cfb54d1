"""The CLI end to end against a real Prefect 3 server on 127.0.0.1 (see prefect_server.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from cli_runner import clean_env, run_cli
from prefect_server import PASSWORD, USER, PrefectServer

FAST = ("--poll-interval", "200ms", "--poll-max-interval", "1s")
CLI_TIMEOUT_S = 180  # a flow run starts a Python subprocess: seconds each on a busy 2-core machine
BASIC = {"TRIGGER_SCHEDULE_USERNAME": USER, "TRIGGER_SCHEDULE_PASSWORD": PASSWORD}


def args(server: PrefectServer, job: str, *extra: str, auth: str = "basic") -> list[str]:
    return ["trigger", "--platform", "prefect", "--url", server.url, "--auth-type", auth, "--job", job, *FAST, *extra]


def github(sha: str, attempt: str = "1") -> dict[str, str]:
    """A GitHub Actions context; a fresh `sha` per test keeps one test from adopting another's runs."""
    return {
        **BASIC,
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": sha,
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_ATTEMPT": attempt,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_ACTOR": "octocat",
    }


def new_sha() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]


def result_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())["triggers"][0]
    return document


def test_success_passes_parameters_tags_and_streams_logs(prefect_server: PrefectServer, tmp_path: Path) -> None:
    out, sha = tmp_path / "received.json", new_sha()
    params = json.dumps({"out": str(out), "version": "1.2.3", "batch_size": 500, "extra": {"regions": ["eu"]}})
    result = run_cli(
        *args(prefect_server, "record/ci", "--params", params, "--timeout", "150s", "--result-file", "r.json"),
        "--platform-options",
        '{"tags": ["team:data"]}',
        "--labels",
        "owner: payments",
        env=github(sha),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The flow itself recorded what it received, types included.
    assert json.loads(out.read_text()) == json.loads(params)
    entry = result_of(tmp_path / "r.json")
    assert (entry["decision"], entry["status"]) == ("triggered", "succeeded")
    assert entry["run_url"] == f"{prefect_server.url}/runs/flow-run/{entry['run_id']}"
    # Provenance as key:value tags, checked on the server.
    tags = set(prefect_server.flow_run(entry["run_id"])["tags"])
    assert {
        "repository:acme/shop",
        f"sha:{sha}",
        "pipeline_url:https://github.com/acme/shop/actions/runs/1/attempts/1",
        "actor:octocat",
        "system:github",
        "team:data",
        "owner:payments",  # the trigger's labels
    } <= tags
    # The flow's own log lines, including the engine's last one, reached the CI output.
    assert "record received version=1.2.3 batch_size=500" in result.stdout
    assert "Finished in state Completed()" in result.stdout
    shown = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert not [line for line in shown if PASSWORD in line]


def _state_reads(stderr: str) -> int:
    """GET /api/flow_runs/{id} requests in a --debug log: how often the run's state was read."""
    return len(re.findall(r"debug: -> GET \S+/api/flow_runs/[0-9a-f-]{36} ", stderr))


def test_waiting_follows_the_event_stream_instead_of_polling(prefect_server: PrefectServer, tmp_path: Path) -> None:
    # The same 4 s flow, followed on the event websocket and then polled every 200 ms to 1 s.
    run = ("--params", '{"seconds": 4}', "--timeout", "150s", "--no-logs", "--debug", "--force-new")
    pushed = run_cli(
        *args(prefect_server, "slow/ci", *run, "--result-file", "pushed.json"),
        env=BASIC,
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "polling instead" not in pushed.stderr
    polled = run_cli(
        *args(prefect_server, "slow/ci", *run, "--platform-options", '{"events": false}'),
        env=BASIC,
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert polled.returncode == 0, polled.stdout + polled.stderr
    # Pushed: one read after subscribing and one to confirm the terminal event, plus a safety read per
    # 30 s of waiting (none unless this busy machine starts the flow slowly).
    safety_reads = int(result_of(tmp_path / "pushed.json")["duration_s"] // 30)
    pushed_reads, polled_reads = _state_reads(pushed.stderr), _state_reads(polled.stderr)
    assert 2 <= pushed_reads <= 2 + safety_reads < polled_reads, (pushed_reads, safety_reads, polled_reads)
    assert PASSWORD not in pushed.stdout + pushed.stderr.replace(f"::add-mask::{PASSWORD}", "")


def test_failed_flow_exits_1(prefect_server: PrefectServer, tmp_path: Path) -> None:
    result = run_cli(*args(prefect_server, "fail/ci", "--timeout", "150s"), env=BASIC, cwd=tmp_path, timeout=180)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "fail-ci: failed" in result.stdout
    assert "this flow fails on purpose" in result.stdout  # the traceback, from the run's logs


def test_unknown_deployment_exits_4_naming_it(prefect_server: PrefectServer, tmp_path: Path) -> None:
    result = run_cli(*args(prefect_server, "record/no-such-deployment"), env=BASIC, cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "no deployment 'no-such-deployment' of flow 'record'" in result.stderr
    by_id = run_cli(*args(prefect_server, str(uuid.uuid4())), env=BASIC, cwd=tmp_path)
    assert by_id.returncode == 4, by_id.stderr
    assert "no deployment with id" in by_id.stderr


def test_parameter_type_error_exits_4(prefect_server: PrefectServer, tmp_path: Path) -> None:
    params = json.dumps({"out": str(tmp_path / "x.json"), "batch_size": "many"})
    result = run_cli(*args(prefect_server, "record/ci", "--params", params), env=BASIC, cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "HTTP 409" in result.stderr and "batch_size" in result.stderr


def test_wrong_credentials_exit_3(prefect_server: PrefectServer, tmp_path: Path) -> None:
    wrong = {"TRIGGER_SCHEDULE_USERNAME": USER, "TRIGGER_SCHEDULE_PASSWORD": "not-the-password"}
    result = run_cli(*args(prefect_server, "record/ci"), env=wrong, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "rejected the credentials" in result.stderr
    bearer = run_cli(*args(prefect_server, "record/ci", auth="bearer"), cwd=tmp_path)  # a Cloud-style API key
    assert bearer.returncode == 3, bearer.stderr


def test_rerun_of_same_ci_context_adopts_the_run(prefect_server: PrefectServer, tmp_path: Path) -> None:
    sha = new_sha()
    params = json.dumps({"out": str(tmp_path / "o.json")})
    common = ("--params", params, "--timeout", "150s")
    first = run_cli(
        *args(prefect_server, "record/ci", *common, "--result-file", "1.json"),
        env=github(sha),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    second = run_cli(
        *args(prefect_server, "record/ci", *common, "--result-file", "2.json"),
        env=github(sha, attempt="2"),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert (first.returncode, second.returncode) == (0, 0), first.stdout + second.stdout + second.stderr
    one, two = result_of(tmp_path / "1.json"), result_of(tmp_path / "2.json")
    assert (one["decision"], two["decision"]) == ("triggered", "adopted")
    assert one["run_id"] == two["run_id"]
    assert [run["id"] for run in prefect_server.runs_of("record/ci", tag=f"sha:{sha}")] == [one["run_id"]]


def test_sigterm_cancels_the_run_and_exits_143(prefect_server: PrefectServer, tmp_path: Path) -> None:
    sha = new_sha()
    command = [sys.executable, "-m", "trigger_schedule", *args(prefect_server, "slow/ci", "--timeout", "10m")]
    with (tmp_path / "out.log").open("w+") as log:
        cli = subprocess.Popen(command, env=clean_env(github(sha)), cwd=tmp_path, stdout=log, stderr=log)
        try:
            run = wait_for_run(prefect_server, sha, {"RUNNING"}, timeout=120)
            cli.send_signal(signal.SIGTERM)
            code = cli.wait(timeout=60)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait(timeout=10)
        log.seek(0)
        output = log.read()
    assert code == 143, output
    assert f"run {run['id']} cancelled" in output
    final = prefect_server.wait_for_state(run["id"], {"CANCELLED"}, timeout=60)
    assert final["state_type"] == "CANCELLED", final["state_type"]


def test_timeout_exits_6_and_on_timeout_cancel_stops_the_run(prefect_server: PrefectServer, tmp_path: Path) -> None:
    sha = new_sha()
    result = run_cli(
        *args(prefect_server, "slow/ci", "--timeout", "6s", "--on-timeout", "cancel", "--result-file", "r.json"),
        env=github(sha),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert result.returncode == 6, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["status"] == "timed-out"
    final = prefect_server.wait_for_state(entry["run_id"], {"CANCELLED"}, timeout=60)
    assert final["state_type"] == "CANCELLED", final["state_type"]
    assert {f"sha:{sha}", "repository:acme/shop", "actor:octocat"} <= set(final["tags"])


def test_api_url_and_auth_string_as_prefect_spells_them(prefect_server: PrefectServer, tmp_path: Path) -> None:
    """url may be a PREFECT_API_URL; the password may hold PREFECT_API_AUTH_STRING ("user:pass") alone."""
    plan = tmp_path / "plan.yml"
    plan.write_text(
        f"""version: 1
platforms:
  prefect:
    type: prefect
    url: {prefect_server.api}
    auth: {{type: basic, username-env: NO_SUCH_VAR, password-env: PREFECT_API_AUTH_STRING}}
    options: {{ui-url: "https://prefect.example/ui"}}
triggers:
  - name: record
    job: record/ci
    wait: false
    params: {{out: "{tmp_path / "o.json"}"}}
"""
    )
    env = {"PREFECT_API_AUTH_STRING": f"{USER}:{PASSWORD}"}
    result = run_cli("run", "--config", str(plan), "--result-file", "r.json", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = result_of(tmp_path / "r.json")
    assert entry["run_url"] == f"https://prefect.example/ui/runs/flow-run/{entry['run_id']}"
    assert prefect_server.flow_run(entry["run_id"])["deployment_id"] == prefect_server.deployment_id("record/ci")


def wait_for_run(server: PrefectServer, sha: str, states: set[str], timeout: float) -> dict[str, Any]:
    """The slow/ci run tagged with this SHA, once it is in one of `states`."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.5) + 1):
        runs = server.runs_of("slow/ci", tag=f"sha:{sha}")
        if runs and runs[0]["state_type"] in states:
            return runs[0]
        if time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    raise AssertionError(f"no slow/ci run with sha:{sha} in {states} after {timeout:.0f} s\n{server.output()}")
