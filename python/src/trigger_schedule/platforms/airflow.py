"""Apache Airflow: trigger DAG runs through the REST API v1 (Airflow 2) or v2 (Airflow 3).

Each trigger's DAG run id is derived from its idempotency key (`ci__<key>`), so a re-run of the same CI
context finds the run it started (or gets 409 Conflict and adopts it) instead of starting another.
Endpoints follow airflow-core's api_fastapi/core_api/routes/public/{dag_run,dags,log,task_instances}.py
(3.3) and airflow/api_connexion/openapi/v1.yaml (2.10).
"""

from __future__ import annotations

import json as jsonlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import quote, unquote

import requests

from trigger_schedule import telemetry
from trigger_schedule.errors import PlatformError, RejectedError, UnreachableError
from trigger_schedule.http import json_object, raise_for_response
from trigger_schedule.platforms.airflow_api import AirflowApi
from trigger_schedule.platforms.airflow_logs import (
    LogCursor,
    TryKey,
    content_events,
    event_lines,
    settle,
    text_body,
    text_lines,
    tries_to_read,
)
from trigger_schedule.platforms.base import (
    LogChunk,
    Platform,
    PreparedRequest,
    RunRef,
    RunState,
    RunStatus,
    TriggerOutcome,
    TriggerRequest,
)
from trigger_schedule.platforms.history import RECENT_RUNS, DurationCache, iso_seconds, median_duration

STATES: dict[str, RunState] = {
    "queued": RunState.RUNNING,
    "running": RunState.RUNNING,
    "success": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
}
NOTE_LIMIT = 1000  # Airflow's note column
# A wait stream that ends this soon after opening is not worth reopening: poll instead.
_MIN_STREAM_S = 5.0
_MAX_STREAMS = 1000
# The batch list's page: its default page_limit on both versions, and Airflow 2's default maximum_page_limit.
BATCH_PAGE = 100
_QUIET_LOGS_MAX_S = 30.0
_PROVENANCE_LINES = (
    ("ci.repository", "repository"),
    ("ci.sha", "commit"),
    ("ci.ref", "ref"),
    ("ci.pipeline_url", "pipeline"),
    ("ci.actor", "actor"),
    ("ci.system", "CI"),
)


class AirflowPlatform(Platform):
    type_name = "airflow"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "deterministic `dag_run_id`",
        "waits": "the `/wait` stream (3) / polling (2)",
        "logs": "per task try",
        "cancel": "sets the run failed",
        "defers": "`run_after` (3) / logical date (2)",
        "concurrency": "yes",
        "batch": "`POST /dags/~/dagRuns/list`, 100 a call",
    }
    can_list_active = True
    batch_status_limit = BATCH_PAGE
    can_defer = True  # Airflow 3: run_after; Airflow 2: a future logical date (queued until then)
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "api-version": {
                "enum": ["auto", "1", "2", 1, 2],
                "default": "auto",
                "description": "REST API to use: 1 (Airflow 2, /api/v1), 2 (Airflow 3, /api/v2), or auto "
                "(probe /api/v2/version, then /api/v1/version).",
            },
            "unpause": {
                "type": "boolean",
                "default": False,
                "description": "Unpause a paused DAG before triggering it. When false, a paused DAG fails the "
                "trigger (exit 4): Airflow would accept the run and leave it queued forever.",
            },
            "logical-date": {
                "type": ["string", "null"],
                "default": "now",
                "description": "The run's logical date: 'now' (the trigger time, as the Airflow UI does), "
                "null (Airflow 3: no logical date; Airflow 2: the server's now), or an ISO-8601 "
                "timestamp with a time zone.",
            },
            "run-id-prefix": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_.~:+-]*$",
                "default": "ci__",
                "description": "Prefix of the DAG run id; the rest is the trigger's idempotency key.",
            },
            "note": {
                "type": "boolean",
                "default": True,
                "description": "Write the CI provenance (repository, commit, pipeline URL, actor) into the "
                "DAG run's note.",
            },
            "server-wait": {
                "type": "boolean",
                "default": True,
                "description": "On Airflow 3, wait through the server's NDJSON stream "
                "GET .../dagRuns/{id}/wait (one request per wait) instead of polling.",
            },
            "wait-interval": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 60,
                "default": 0.5,
                "description": "Seconds between the server-side state checks of the wait stream.",
            },
            "trace-context-conf": {
                "type": ["string", "null"],
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "default": None,
                "description": "Put the W3C trace context of the trigger request (sent only when tracing is on "
                "or the CI gave TRACEPARENT) into the DAG run's conf under this key, e.g. traceparent "
                "(tracestate goes beside it as <key>_state), so the DAG's tasks can join the trace.",
            },
            "logs-interval": {
                "type": "number",
                "minimum": 0,
                "maximum": 600,
                "default": 5.0,
                "description": "Least seconds between two log fetches while the run is going, doubled "
                "(up to 30 s) while fetches find nothing new; the final logs are always fetched.",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _check_logical_date(self.config.name, self.opts["logical-date"])
        self.api = AirflowApi(self.config, self.http, str(self.opts["api-version"]))
        self._dag_of_run: dict[str, str] = {}
        self._finished: set[str] = set()
        self._server_wait = bool(self.opts["server-wait"])
        self._lock = threading.Lock()
        self._durations = DurationCache(self.type_name, self.http)

    # -- trigger ------------------------------------------------------------------------------

    def run_id(self, request: TriggerRequest) -> str:
        return f"{self.opts['run-id-prefix']}{request.idempotency_key}"

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        # A dry run sends nothing, not even the version probe: "auto" shows the Airflow 3 request.
        version = self.api.known_version or 2
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.api.masked_auth_headers()}
        url = f"{self.api.base}/api/v{version}/dags/{quote(request.job, safe='')}/dagRuns"
        return PreparedRequest("POST", url, headers, self._trigger_body(request, version))

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        dag_id, run_id = request.job, self.run_id(request)
        self._require_active_dag(dag_id, deadline)
        what = f"trigger DAG {dag_id}"
        response = self.api.request(
            "POST",
            f"/dags/{_q(dag_id)}/dagRuns",
            json=self._trigger_body(request, self.api.version(deadline)),
            what=what,
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code == 409:
            # This run id exists: an earlier attempt of this CI context started it.
            existing = self._get_run(dag_id, run_id, deadline)
            if existing is None:
                raise_for_response(response, what)  # the conflict was something else (a logical date)
            return TriggerOutcome(run=self._run_ref(dag_id, run_id), adopted=True)
        if response.status_code == 404:
            raise self._unknown_dag(dag_id, response)
        raise_for_response(response, what)
        return TriggerOutcome(run=self._run_ref(dag_id, _document(response, what).get("dag_run_id") or run_id))

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        dag_id, run_id = request.job, self.run_id(request)
        if self._get_run(dag_id, run_id, deadline) is None:
            return None
        return self._run_ref(dag_id, run_id)

    def _trigger_body(self, request: TriggerRequest, version: int) -> dict[str, Any]:
        body: dict[str, Any] = {"dag_run_id": self.run_id(request), "conf": dict(request.params)}
        trace_key, trace = self.opts["trace-context-conf"], telemetry.outgoing_headers()
        if trace_key and trace.get("traceparent"):
            body["conf"][trace_key] = trace["traceparent"]
            if trace.get("tracestate"):
                body["conf"][f"{trace_key}_state"] = trace["tracestate"]
        start_at = request.start_at.astimezone(timezone.utc).isoformat() if request.start_at else None
        logical_date = self.opts["logical-date"]
        if logical_date == "now":
            logical_date = start_at or self.clock.now().astimezone(timezone.utc).isoformat()
        elif version == 1 and start_at:
            logical_date = start_at  # Airflow 2 defers a run only by its logical date
        if logical_date is not None or version == 2:
            body["logical_date"] = logical_date  # v2 requires the key (null allowed); v1 rejects null
        if version == 2 and start_at:
            body["run_after"] = start_at
        if self.opts["note"]:
            body["note"] = provenance_note(request)
        return body

    def _require_active_dag(self, dag_id: str, deadline: float | None) -> None:
        """Unknown DAG: exit 4 with a clear message. Paused DAG: unpause, or exit 4 (it would never run)."""
        response = self.api.request(
            "GET", f"/dags/{_q(dag_id)}", what=f"look up DAG {dag_id}", deadline=deadline, raise_for_status=False
        )
        if response.status_code == 404:
            raise self._unknown_dag(dag_id, response)
        raise_for_response(response, f"look up DAG {dag_id}")
        if not _document(response, f"look up DAG {dag_id}").get("is_paused"):
            return
        if not self.opts["unpause"]:
            raise RejectedError(
                f"DAG {dag_id} is paused on {self.api.base}: a run would stay queued until someone unpauses it",
                hint=f"unpause {dag_id} in the Airflow UI, or set `unpause: true` in this platform's options",
            )
        self.api.request(
            "PATCH",
            f"/dags/{_q(dag_id)}",
            params={"update_mask": "is_paused"},
            json={"is_paused": False},
            what=f"unpause DAG {dag_id}",
            deadline=deadline,
        )

    def _unknown_dag(self, dag_id: str, response: requests.Response | None = None) -> RejectedError:
        detail = f": {_excerpt(response)}" if response is not None else ""
        return RejectedError(
            f"DAG {dag_id} does not exist on {self.api.base} (HTTP 404{detail})",
            hint="check the trigger's job: it is the DAG id shown in the Airflow UI; a DAG file with import "
            "errors or one not parsed yet is not listed either",
            status_code=404,
        )

    # -- runs ---------------------------------------------------------------------------------

    def _run_ref(self, dag_id: str, run_id: str) -> RunRef:
        with self._lock:
            self._dag_of_run[run_id] = dag_id
        return RunRef(run_id=run_id, url=self.run_url(dag_id, run_id), extra={"dag_id": dag_id})

    def run_url(self, dag_id: str, run_id: str) -> str:
        if self.api.version() == 2:
            return f"{self.api.base}/dags/{_q(dag_id)}/runs/{_q(run_id)}"
        return f"{self.api.base}/dags/{_q(dag_id)}/grid?dag_run_id={_q(run_id)}"

    def _dag_id(self, run: RunRef) -> str:
        dag_id = run.extra.get("dag_id") or self._dag_of_run.get(run.run_id)
        if not dag_id and run.url and "/dags/" in run.url:
            # A RunRef rebuilt from a result's run id and URL (no extra) still names its DAG in the URL.
            dag_id = unquote(run.url.split("/dags/", 1)[1].split("/", 1)[0])
        if not dag_id:
            raise PlatformError(f"run {run.run_id}: cannot tell which DAG it belongs to")
        return str(dag_id)

    def _run_path(self, run: RunRef) -> str:
        return f"/dags/{_q(self._dag_id(run))}/dagRuns/{_q(run.run_id)}"

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        what = f"list the active runs of DAG {job}"
        response = self.api.request(
            "GET",
            f"/dags/{_q(job)}/dagRuns",
            params={"state": ["queued", "running"], "limit": 100},
            what=what,
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code == 404:
            raise self._unknown_dag(job)
        raise_for_response(response, what)
        runs = _document(response, what).get("dag_runs") or []
        return [self._run_ref(job, str(run["dag_run_id"])) for run in runs if run.get("dag_run_id")]

    def _get_run(self, dag_id: str, run_id: str, deadline: float | None) -> dict[str, Any] | None:
        what = f"look up run {run_id} of DAG {dag_id}"
        response = self.api.request(
            "GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}", what=what, deadline=deadline, raise_for_status=False
        )
        if response.status_code == 404:
            return None
        raise_for_response(response, what)
        return _document(response, what)

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        what = f"status of run {run.run_id}"
        document = _document(self.api.request("GET", self._run_path(run), what=what, deadline=deadline), what)
        return self._status(run, document.get("state"))

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        """The batch list across DAGs (`POST /dags/~/dagRuns/list`, the same on v1 and v2), filtered to the asked
        DAGs, newest first: the runs being waited for are the newest, so one page usually holds them all. It
        has no run-id filter; a run with a page of newer runs in its DAGs is left to `status`."""
        wanted: dict[tuple[str, str], RunRef] = {}
        for run in runs:
            try:
                wanted[(self._dag_id(run), run.run_id)] = run
            except PlatformError:
                continue  # no DAG known for it: `status` says so
        if not wanted:
            return {}
        dag_ids = sorted({dag for dag, _ in wanted})
        body = {"dag_ids": dag_ids, "order_by": "-id", "page_offset": 0, "page_limit": BATCH_PAGE}
        what = f"statuses of {len(wanted)} runs"
        response = self.api.request("POST", "/dags/~/dagRuns/list", json=body, what=what, deadline=deadline)
        listed = _document(response, what).get("dag_runs")
        found: dict[str, RunStatus] = {}
        for item in listed if isinstance(listed, list) else []:
            asked = wanted.get((str(item.get("dag_id")), str(item.get("dag_run_id"))))
            if asked is not None:
                found[asked.run_id] = self._status(asked, item.get("state"))
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median end_date - start_date of the DAG's last successful runs."""
        what = f"recent successful runs of DAG {job}"
        params = {"state": ["success"], "order_by": "-end_date", "limit": RECENT_RUNS}
        response = self.api.request("GET", f"/dags/{_q(job)}/dagRuns", params=params, what=what, deadline=deadline)
        runs = _document(response, what).get("dag_runs") or []
        return median_duration(iso_seconds(run.get("start_date"), run.get("end_date")) for run in runs)

    def _status(self, run: RunRef, raw: Any) -> RunStatus:
        word = str(raw or "queued")
        state = STATES.get(word.lower(), RunState.RUNNING)
        if state.terminal:
            with self._lock:
                self._finished.add(run.run_id)
        return RunStatus(state=state, raw=word, url=run.url)

    def cancel(self, run: RunRef) -> None:
        # Airflow has no "cancelled" run state: failing the run stops its running tasks.
        self.api.request("PATCH", self._run_path(run), json={"state": "failed"}, what=f"cancel run {run.run_id}")

    # -- waiting ------------------------------------------------------------------------------

    def watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus] | None:
        if not self._server_wait or self.api.version(deadline) != 2:
            return None
        return self._watch(run, deadline)

    def _watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus]:
        """Airflow 3's experimental `GET .../dagRuns/{id}/wait?interval=` NDJSON stream, reopened while it
        keeps going; returning hands over to polling."""
        for _ in range(_MAX_STREAMS):
            opened = self.clock.monotonic()
            last: RunStatus | None = None
            for status in self._stream(run, deadline):
                last = status
                yield status
                if status.state.terminal:
                    return
            if last is None or self.clock.monotonic() - opened < _MIN_STREAM_S or self.clock.monotonic() >= deadline:
                return

    def _stream(self, run: RunRef, deadline: float) -> Iterator[RunStatus]:
        interval = float(self.opts["wait-interval"])
        response = self.http.request(
            "GET",
            self.api.url(self._run_path(run) + "/wait"),
            what=f"wait for run {run.run_id}",
            params={"interval": interval},
            headers={"Accept": "application/x-ndjson", **self.api.auth_headers(deadline)},
            deadline=deadline,
            raise_for_status=False,
            stream=True,
            read_timeout=max(self.http.options.read_timeout, interval * 4 + 5),
        )
        with response:
            if response.status_code in (404, 405, 501):
                self._server_wait = False  # an Airflow 3 without the endpoint: poll from now on
                return
            if response.status_code != 200:
                return  # polling reports auth and other errors properly
            try:
                for line in response.iter_lines(chunk_size=None):
                    status = self._stream_status(run, line)
                    if status is not None:
                        yield status
            except requests.RequestException as exc:
                raise UnreachableError(f"wait for run {run.run_id}: the stream broke ({type(exc).__name__})") from None

    def _stream_status(self, run: RunRef, line: bytes) -> RunStatus | None:
        if not line.strip():
            return None
        try:
            state = jsonlib.loads(line).get("state")
        except (ValueError, AttributeError):
            return None
        return self._status(run, state) if state else None

    # -- logs ---------------------------------------------------------------------------------

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        position = cursor if isinstance(cursor, LogCursor) else LogCursor()
        finished = run.run_id in self._finished
        now = self.clock.monotonic()
        if not finished and now - position.fetched_at < self._logs_delay(position.quiet):
            return LogChunk("", position)
        base = self._run_path(run) + "/taskInstances"
        response = self.api.request(
            "GET", base, params={"limit": 100}, what=f"task instances of run {run.run_id}", raise_for_status=False
        )
        if response.status_code >= 400:
            return LogChunk("", position)
        task_instances = _document(response, "task instances").get("task_instances") or []
        blocks: list[str] = []
        for key, try_finished in tries_to_read(task_instances, position):
            lines, offset = self._read_try(base, key, position.offsets.get(key, 0))
            position = settle(position.advance(key, offset), key, try_finished)
            if lines:
                blocks.append("\n".join([f"[{key.label}]", *lines]))
        quiet = 0 if blocks else position.quiet + 1
        position = LogCursor(position.offsets, position.settling, position.done, now, quiet)
        return LogChunk("\n".join(blocks), position, complete=finished and not position.settling)

    def _logs_delay(self, quiet: int) -> float:
        """logs-interval, doubled after each fetch that found nothing new, up to 30 s: a task that is
        silent for long costs few requests, and new lines reset it."""
        interval = float(self.opts["logs-interval"])
        return min(interval * float(2 ** min(quiet, 6)), max(interval, _QUIET_LOGS_MAX_S))

    def _read_try(self, base: str, key: TryKey, offset: int) -> tuple[list[str], int]:
        """New lines of one task try's log since `offset`, and the offset after them."""
        version = self.api.version()
        response = self.api.request(
            "GET",
            f"{base}/{_q(key.task_id)}/logs/{key.try_number}",
            params={"full_content": "true", "map_index": key.map_index},
            accept="application/json" if version == 2 else "text/plain",
            what=f"log of {key.label}",
            raise_for_status=False,
        )
        if response.status_code >= 400:
            return [], offset
        if version == 1:
            body = text_body(response.text)
            # Only whole lines: a line still being written is printed complete on the next read.
            complete = body[: body.rfind("\n") + 1] if len(body) > offset else ""
            return text_lines(complete[offset:]), max(offset, len(complete))
        content = _document(response, f"log of {key.label}").get("content") or []
        if not isinstance(content, list):
            return [], offset
        events = content_events(content)
        return event_lines(events[offset:]), max(offset, len(events))


def provenance_note(request: TriggerRequest) -> str:
    """The DAG run's note: where it came from, as Markdown (the Airflow UI renders notes)."""
    lines = ["Triggered by trigger-schedule after a deploy."]
    for key, label in _PROVENANCE_LINES:
        if request.provenance.get(key):
            lines.append(f"- {label}: {request.provenance[key]}")
    if request.labels:
        lines.append("- labels: " + ", ".join(f"{key}={value}" for key, value in request.labels.items()))
    lines.append(f"- idempotency key: {request.idempotency_key}")
    note = "\n".join(lines)
    return note if len(note) <= NOTE_LIMIT else note[: NOTE_LIMIT - 3] + "..."


def _check_logical_date(platform: str, value: Any) -> None:
    if value is None or value == "now":
        return
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        from trigger_schedule.errors import ConfigError

        raise ConfigError(
            f"platforms.{platform}.options.logical-date is {value!r}: not 'now', null or an ISO-8601 timestamp "
            "with a time zone",
            hint="use e.g. 2026-01-31T00:00:00Z, or 'now'",
        )


def _excerpt(response: requests.Response) -> str:
    """The server's own reason, e.g. Airflow 3's "/api/v1 has been removed" for a wrong api-version."""
    try:
        document = response.json()
    except ValueError:
        return "no details"
    if isinstance(document, Mapping):
        reason = document.get("detail") or document.get("error") or document.get("title")
        if reason:
            return " ".join(str(reason).split())[:200]
    return "no details"


def _q(value: str) -> str:
    return quote(value, safe="")


def _document(response: requests.Response, what: str) -> dict[str, Any]:
    return json_object(response, what, hint="check the platform url points at Airflow's web server / API server")
