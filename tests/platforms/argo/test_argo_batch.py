"""Waiting at scale on the stand-in Argo Server: many Workflows' statuses in one labelled list, a template's
expected duration from its Succeeded Workflows."""

from __future__ import annotations

import secrets
import statistics
from datetime import datetime
from typing import Any

from argo_standin_client import Argo
from servers.admin import wait_until
from servers.batch import check_status_many
from test_argo import platform
from trigger_schedule.platforms.argo import ArgoPlatform
from trigger_schedule.platforms.base import RunRef, RunState, TriggerRequest

FINAL = {"Succeeded", "Failed", "Error"}


def _start(argo_platform: ArgoPlatform, job: str) -> RunRef:
    request = TriggerRequest(job=job, params={}, idempotency_key="b-" + secrets.token_hex(12))
    return argo_platform.trigger(request, None).run


def _phase(argo: Argo, name: str) -> str:
    phases = [wf.get("status", {}).get("phase", "") for wf in argo.workflows() if wf["metadata"]["name"] == name]
    return str(phases[0]) if phases else ""


def _span(workflow: dict[str, Any]) -> float:
    status = workflow["status"]
    start = datetime.fromisoformat(status["startedAt"].replace("Z", "+00:00"))
    return (datetime.fromisoformat(status["finishedAt"].replace("Z", "+00:00")) - start).total_seconds()


def test_status_many_reads_each_run_as_status_does_in_one_call(argo: Argo) -> None:
    argo.template("ok", duration=0.1)
    argo.template("broken", duration=0.1, outcome="failed")
    argo.template("long", duration=60)
    pf = platform(argo)
    succeeded, failed, running = _start(pf, "ok"), _start(pf, "broken"), _start(pf, "long")
    wait_until(lambda: _phase(argo, succeeded.run_id) in FINAL and _phase(argo, failed.run_id) in FINAL, 10)
    unknown = RunRef(run_id="ok-unknown", extra={"key": "b-unknown"})
    rebuilt = RunRef(run_id=succeeded.run_id, url=succeeded.url)  # from a result: no key label known
    before = len(argo.requests())
    finished = [(succeeded, RunState.SUCCEEDED), (failed, RunState.FAILED)]
    check_status_many(pf, finished, running, unknown, lambda: pf.http.calls)
    listed = argo.requests()[before]
    assert (listed["method"], listed["path"]) == ("GET", "/api/v1/workflows/argo")
    assert listed["query"]["listOptions.labelSelector"].startswith("trigger-schedule/idempotency-key in (")
    assert pf.status_many([rebuilt], None) == {}


def test_expected_duration_is_the_median_of_succeeded_workflows(argo: Argo) -> None:
    argo.template("ok", duration=1.2)
    argo.template("broken", duration=0.1, outcome="failed")
    pf = platform(argo)
    names = [_start(pf, "ok").run_id for _ in range(3)] + [_start(pf, "broken").run_id]
    wait_until(lambda: all(_phase(argo, name) in FINAL for name in names), 15)
    recorded = [_span(wf) for wf in argo.workflows() if wf["status"].get("phase") == "Succeeded"]
    expected = pf.expected_duration("ok", None)
    assert expected is not None and expected == statistics.median(recorded)
    before = len(argo.requests())
    assert pf.expected_duration("ok", None) == expected and len(argo.requests()) == before  # cached
    assert pf.expected_duration("broken", None) is None  # no Succeeded Workflow
    assert platform(argo).expected_duration("never-ran", None) is None
