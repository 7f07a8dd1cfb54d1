"""Airflow 3's "Database error" 500 is retried like a 503; other 500s are not.

The answer is served by the generic test server's fault injection with the body Airflow 3 sends
(airflow-core api_fastapi/common/exceptions.py, SQLAlchemyErrorHandler), so the retry policy is
exercised over real HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from cli_runner import TOKEN
from servers.harness import GenericScheduler
from trigger_schedule.clock import SystemClock
from trigger_schedule.errors import UnreachableError
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.airflow_api import database_error

DATABASE_ERROR = {
    "detail": {
        "reason": "Database error",
        "statement": "hidden",
        "orig_error": "hidden",
        "message": "Serious error when handling your request. Check logs for more details",
    }
}


def _status_url(server: GenericScheduler) -> str:
    created = requests.post(
        f"{server.url}/v1/jobs/trigger",
        json={"jobName": "instant", "parameters": {}},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    created.raise_for_status()
    return f"{server.url}/v1/jobs/runs/{created.json()['runId']}"


def _get(url: str, **options: Any) -> requests.Response:
    client = HttpClient(HttpOptions(max_attempts=3), SystemClock())
    return client.request("GET", url, what="status", headers={"Authorization": f"Bearer {TOKEN}"}, **options)


def test_a_database_error_is_retried(generic_server: GenericScheduler) -> None:
    url = _status_url(generic_server)
    generic_server.inject("status", [{"status": 500, "body": DATABASE_ERROR}])
    assert _get(url, retry_if=database_error).status_code == 200
    assert len(generic_server.requests("status")) == 2


def test_other_500s_are_not_retried(generic_server: GenericScheduler) -> None:
    url = _status_url(generic_server)
    generic_server.inject("status", [{"status": 500, "body": {"detail": "boom"}}])
    with pytest.raises(UnreachableError, match=r"failed \(HTTP 500\)"):
        _get(url, retry_if=database_error)
    assert len(generic_server.requests("status")) == 1


def test_a_lasting_database_error_ends_as_unreachable(generic_server: GenericScheduler) -> None:
    url = _status_url(generic_server)
    generic_server.inject("status", [{"status": 500, "body": DATABASE_ERROR}] * 3)
    with pytest.raises(UnreachableError, match="answered HTTP 500 after 3 attempt"):
        _get(url, retry_if=database_error)
    assert len(generic_server.requests("status")) == 3
