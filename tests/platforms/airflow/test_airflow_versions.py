"""What differs between Airflow 3 (API v2) and Airflow 2 (API v1): detection, auth, logical dates, waiting."""

from __future__ import annotations

import time
import uuid
from typing import Any

from airflow_harness import CREDENTIALS, AirflowServer, cli_args
from cli_runner import run_cli
from trigger_schedule.clock import SystemClock
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.airflow import AirflowPlatform
from trigger_schedule.platforms.base import PlatformConfig, RunState, TriggerRequest


def _platform(server: AirflowServer, url: str | None = None, **options: Any) -> AirflowPlatform:
    config = PlatformConfig(
        name="af",
        type="airflow",
        url=url or server.url,
        auth_type="basic",
        username="admin",
        password="admin",
        options=options,
    )
    return AirflowPlatform(config, HttpClient(HttpOptions(), SystemClock()), SystemClock())


def _request(**params: Any) -> TriggerRequest:
    return TriggerRequest(job="ts_success", params=params, idempotency_key=f"v-{uuid.uuid4().hex}")


def test_api_version_is_detected(airflow: AirflowServer) -> None:
    assert _platform(airflow).api.version() == (2 if airflow.major == 3 else 1)


def test_url_with_api_path_names_the_version(airflow: AirflowServer) -> None:
    version = 2 if airflow.major == 3 else 1
    platform = _platform(airflow, url=f"{airflow.url}/api/v{version}/")
    assert platform.api.known_version == version and platform.api.base == airflow.url
    outcome = platform.trigger(_request(), None)
    assert airflow.get_run("ts_success", outcome.run.run_id)["conf"] == {}


def test_logical_date_null_and_fixed(airflow: AirflowServer) -> None:
    run = _platform(airflow, **{"logical-date": None}).trigger(_request(), None).run
    stored = airflow.get_run("ts_success", run.run_id)
    if airflow.major == 3:
        assert stored["logical_date"] is None  # Airflow 3 runs without a logical date
    else:
        assert stored["logical_date"]  # Airflow 2 sets its own "now"
    fixed = "2024-05-01T00:00:00+00:00"
    run = _platform(airflow, **{"logical-date": fixed}).trigger(_request(), None).run
    assert airflow.get_run("ts_success", run.run_id)["logical_date"].replace("Z", "+00:00") == fixed


def test_airflow3_wait_stream_yields_until_terminal(airflow3: AirflowServer) -> None:
    platform = _platform(airflow3)
    run = platform.trigger(_request(), None).run
    clock = SystemClock()
    stream = platform.watch(run, clock.monotonic() + 120)
    assert stream is not None
    states = [status.state for status in stream]
    assert states[-1] is RunState.SUCCEEDED
    assert platform.http.calls <= 6  # token, version, DAG, trigger, one stream (not a poll per state)


def test_airflow2_is_polled(airflow2: AirflowServer) -> None:
    platform = _platform(airflow2)
    run = platform.trigger(_request(), None).run
    assert platform.watch(run, SystemClock().monotonic() + 60) is None


def test_airflow3_bearer_token_given_directly(airflow3: AirflowServer) -> None:
    token = airflow3.token()
    args = cli_args(airflow3, "ts_success", "--force-new", "--no-logs")
    auth = args.index("--auth-type")
    del args[auth : auth + 6]  # no basic credentials: the token from TRIGGER_SCHEDULE_TOKEN instead
    done = run_cli(*args, env={"TRIGGER_SCHEDULE_TOKEN": token}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert token not in done.stdout + done.stderr


def test_dry_run_sends_nothing(airflow: AirflowServer) -> None:
    before = len(airflow.list_runs("ts_fail"))
    done = run_cli(*cli_args(airflow, "ts_fail", "--dry-run", "--param", "a=1"), env=CREDENTIALS, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"logical_date"' in done.stdout and '"conf"' in done.stdout and "admin" not in done.stdout
    assert len(airflow.list_runs("ts_fail")) == before


def test_deferred_start_waits_for_its_time(airflow: AirflowServer) -> None:
    from datetime import datetime, timedelta, timezone

    platform = _platform(airflow)
    start_at = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    key = f"later-{uuid.uuid4().hex}"
    request = TriggerRequest(job="ts_success", params={}, idempotency_key=key, start_at=start_at)
    run = platform.trigger(request, None).run
    try:
        time.sleep(3)  # a few scheduler loops
        stored = airflow.get_run("ts_success", run.run_id)
        assert stored["state"] == "queued"
        field = "run_after" if airflow.major == 3 else "logical_date"
        assert datetime.fromisoformat(stored[field].replace("Z", "+00:00")) == start_at
    finally:
        platform.cancel(run)
    assert airflow.get_run("ts_success", run.run_id)["state"] == "failed"


def test_list_active_finds_a_running_run(airflow: AirflowServer) -> None:
    platform = _platform(airflow)
    request = TriggerRequest(job="ts_slow", params={"seconds": 30}, idempotency_key=f"active-{uuid.uuid4().hex}")
    run = platform.trigger(request, None).run
    try:
        assert run.run_id in [r.run_id for r in platform.list_active("ts_slow", None)]
    finally:
        platform.cancel(run)
    assert run.run_id not in [r.run_id for r in platform.list_active("ts_slow", None)]
