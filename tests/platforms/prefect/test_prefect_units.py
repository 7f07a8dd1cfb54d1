"""The Prefect plug-in's pure parts: URLs, job names, the log cursor, and its options in plan validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run_cli
from trigger_schedule.errors import ConfigError
from trigger_schedule.platforms.prefect import LogCursor, _advance, api_url, deployment_target, ui_url

CLOUD_API = "https://api.prefect.cloud/api/accounts/a1/workspaces/w2"


@pytest.mark.parametrize(
    ("url", "api_path", "expected"),
    [
        ("http://127.0.0.1:4200", "/api", "http://127.0.0.1:4200/api"),
        ("http://127.0.0.1:4200/", "/api", "http://127.0.0.1:4200/api"),
        ("http://127.0.0.1:4200/api", "/api", "http://127.0.0.1:4200/api"),  # a PREFECT_API_URL
        ("https://tools.example/prefect", "/api", "https://tools.example/prefect/api"),
        (CLOUD_API, "/api", CLOUD_API),
        ("https://proxy.example/rest", "/", "https://proxy.example/rest"),
    ],
)
def test_api_url(url: str, api_path: str, expected: str) -> None:
    assert api_url(url, api_path) == expected


def test_ui_url_derived_as_prefect_does() -> None:
    assert ui_url("http://127.0.0.1:4200/api") == "http://127.0.0.1:4200"
    assert ui_url("https://tools.example/prefect/api") == "https://tools.example/prefect"
    assert ui_url(CLOUD_API) == "https://app.prefect.cloud/account/a1/workspace/w2"


def test_job_is_a_name_pair_or_an_id() -> None:
    assert deployment_target("etl/nightly") == ("etl", "nightly")
    uid = "0f4526bd-986f-4e5a-a7c3-d395dd396da4"
    assert deployment_target(uid.upper()) == uid
    with pytest.raises(ConfigError, match="neither 'flow-name/deployment-name' nor a deployment id"):
        deployment_target("etl")


def test_log_cursor_skips_lines_already_read_at_the_same_instant() -> None:
    first = _advance(LogCursor(), {"id": "a", "timestamp": "T1", "message": "x", "task_run_id": None})
    second = _advance(first, {"id": "b", "timestamp": "T1", "message": "y", "task_run_id": None})
    assert (second.after, second.seen, second.finished) == ("T1", frozenset({"a", "b"}), False)
    task_line = {"id": "c", "timestamp": "T2", "message": "Finished in state Completed()", "task_run_id": "t"}
    assert _advance(second, task_line).finished is False  # a task run's last line, not the flow run's
    flow_done = _advance(
        second, {"id": "d", "timestamp": "T2", "message": "Finished in state Completed()", "task_run_id": None}
    )
    assert (flow_done.after, flow_done.seen, flow_done.finished) == ("T2", frozenset({"d"}), True)


def test_plan_validation_knows_the_options(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yml"
    plan.write_text(
        """version: 1
platforms:
  prefect:
    type: prefect
    url: http://127.0.0.1:4200
    options: {tags: [team:data], work-queue: default}
triggers:
  - {name: etl, job: etl/nightly}
"""
    )
    result = run_cli("validate", "-c", str(plan), cwd=tmp_path)
    assert result.returncode == 2
    assert "work-queue" in result.stderr


def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    result = run_cli(
        *("trigger", "--platform", "prefect", "--url", "http://127.0.0.1:9", "--job", "etl/nightly"),
        *("--param", "day=2026-01-01", "--dry-run"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "would send POST http://127.0.0.1:9/api/deployments/{id of etl/nightly}/create_flow_run" in result.stdout
    assert '"idempotency_key": "ts-' in result.stdout
