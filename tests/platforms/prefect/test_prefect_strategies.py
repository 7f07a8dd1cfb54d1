"""Issue strategies that need the platform: deferred start and concurrency, against the real Prefect server."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cli_runner import run_cli
from prefect_server import PrefectServer
from test_prefect_cli import CLI_TIMEOUT_S, FAST, args, github, new_sha, result_of


def test_window_defer_schedules_the_run_at_the_opening(prefect_server: PrefectServer, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    opening = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    closing = opening + timedelta(hours=1)
    window = {"start": f"{opening:%H:%M}", "end": f"{closing:%H:%M}", "timezone": "UTC", "outside": "defer"}
    sha = new_sha()
    result = run_cli(
        *args(
            prefect_server,
            "record/ci",
            "--window",
            json.dumps(window),
            "--no-wait",
            "--params",
            '{"out": "/dev/null"}',
            "--result-file",
            "r.json",
        ),
        env=github(sha),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"to start at {opening:%Y-%m-%dT%H:%M:%S}Z" in result.stdout
    (run,) = prefect_server.runs_of("record/ci", tag=f"sha:{sha}")
    assert run["state_type"] == "SCHEDULED"
    scheduled = datetime.fromisoformat(run["next_scheduled_start_time"].replace("Z", "+00:00"))
    assert scheduled == opening
    assert result_of(tmp_path / "r.json")["run_id"] == run["id"]
    prefect_server.post(f"/flow_runs/{run['id']}/set_state", {"state": {"type": "CANCELLED"}, "force": True})


def test_concurrency_skip_and_cancel_previous_with_an_active_run(prefect_server: PrefectServer, tmp_path: Path) -> None:
    first = run_cli(
        *args(prefect_server, "slow/ci", "--no-wait"), env=github(new_sha()), cwd=tmp_path, timeout=CLI_TIMEOUT_S
    )
    assert first.returncode == 0, first.stderr
    first_id = [
        r
        for r in prefect_server.runs_of("slow/ci")
        if r["state_type"] not in ("CANCELLED", "COMPLETED", "FAILED", "CRASHED")
    ]
    assert first_id
    prefect_server.wait_for_state(first_id[0]["id"], {"RUNNING"}, timeout=90)
    skipped = run_cli(
        *args(prefect_server, "slow/ci", "--concurrency", "skip", "--result-file", "s.json"),
        env=github(new_sha()),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert skipped.returncode == 0, skipped.stderr
    assert result_of(tmp_path / "s.json")["decision"] == "skipped"
    assert "already has active run(s)" in result_of(tmp_path / "s.json")["reason"]
    replaced = run_cli(
        *args(prefect_server, "slow/ci", "--concurrency", "cancel-previous", "--no-wait", *FAST),
        env=github(new_sha()),
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
    )
    assert replaced.returncode == 0, replaced.stderr
    assert "cancelled the active run" in replaced.stdout
    final = prefect_server.wait_for_state(first_id[0]["id"], {"CANCELLED"}, timeout=90)
    assert final["state_type"] == "CANCELLED"
    for run in prefect_server.runs_of("slow/ci"):
        if run["state_type"] in ("SCHEDULED", "PENDING", "RUNNING"):
            prefect_server.post(f"/flow_runs/{run['id']}/set_state", {"state": {"type": "CANCELLING"}, "force": True})
