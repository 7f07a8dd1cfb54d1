"""Prefect 3: run a deployment, by `flow/deployment` name or by id, through the Prefect REST API.

API facts follow PrefectHQ/prefect 3.8 (src/prefect/server/api/deployments.py, flow_runs.py, logs.py,
server.py): `POST /deployments/{id}/create_flow_run` answers 201 for a new run and 200 with the
existing run when the idempotency key was used before; states are orchestrated through
`POST /flow_runs/{id}/set_state`; self-hosted servers with PREFECT_SERVER_API_AUTH_STRING take
HTTP basic auth, Prefect Cloud a bearer API key.

Waiting follows the run on Prefect's event websocket (`/api/events/out`, prefect_events.py), reading
the run's state over REST when an event for it arrives, and falls back to polling when the stream
cannot be opened or breaks.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests

from trigger_schedule.errors import ConfigError, PlatformError, RejectedError
from trigger_schedule.http import json_body, raise_for_response
from trigger_schedule.platforms.base import (
    LogChunk,
    Platform,
    PreparedRequest,
    RunRef,
    RunState,
    RunStatus,
    TriggerOutcome,
    TriggerRequest,
    auth_headers,
)
from trigger_schedule.platforms.history import RECENT_RUNS, DurationCache, iso_seconds, median_duration
from trigger_schedule.platforms.prefect_events import FlowRunEvents
from trigger_schedule.secrets import MASK, REDACTOR

# Prefect's StateType (src/prefect/client/schemas/objects.py); anything unknown counts as running.
# Started and not yet finished: what a concurrency policy waits for, cancels or skips over.
_ACTIVE_STATE_TYPES = ["PENDING", "RUNNING", "PAUSED", "CANCELLING"]

STATES: dict[str, RunState] = {
    **dict.fromkeys(("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"), RunState.RUNNING),
    "COMPLETED": RunState.SUCCEEDED,
    "FAILED": RunState.FAILED,
    "CRASHED": RunState.FAILED,
    "CANCELLED": RunState.CANCELLED,
}
# Logs are shipped in batches (PREFECT_LOGGING_TO_API_BATCH_INTERVAL, 2 s by default), so the last
# lines land about a second after the terminal state: wait this long for them, at most.
LATE_LOGS_S = 3.0
LATE_LOGS_POLL_S = 0.3
LOG_PAGE = 200
LOG_PAGES_PER_CALL = 10
# The engine's last line for a flow run (flow_engine.py): once seen, no more logs are coming.
_FINISHED = re.compile(r"^Finished in state ")
_LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
_PROVENANCE_TAGS = ("repository", "sha", "ref", "pipeline_url", "actor", "system")
# While following events, how often the generator hands control back (so an interrupt is seen), and how
# often the state is read over REST anyway: a stream that stalls silently costs at most that much lag.
EVENTS_HEARTBEAT_S = 1.0
EVENTS_SAFETY_POLL_S = 30.0
# Flow runs read by one `POST /flow_runs/filter`: within PREFECT_SERVER_API_DEFAULT_LIMIT (200 by default),
# with room for a server that lowered it.
BATCH_LIMIT = 100


@dataclass(frozen=True)
class LogCursor:
    """Where the log stream stands: the newest timestamp read and the ids read at that timestamp."""

    after: str | None = None
    seen: frozenset[str] = frozenset()
    finished: bool = False  # the engine's "Finished in state" line was read


class PrefectPlatform(Platform):
    type_name = "prefect"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "`idempotency_key`",
        "waits": "the event websocket",
        "logs": "`/logs/filter`",
        "cancel": "CANCELLING",
        "defers": "SCHEDULED state",
        "concurrency": "yes",
        "batch": "`POST /flow_runs/filter` by ids, 100 a call",
    }
    can_list_active = True
    batch_status_limit = BATCH_LIMIT
    can_defer = True  # a flow run created in a SCHEDULED state with its scheduled_time
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "api-path": {
                "type": "string",
                "pattern": "^/",
                "default": "/api",
                "description": "Path of the REST API under the url; not added when the url already contains it "
                "(e.g. a PREFECT_API_URL).",
            },
            "ui-url": {
                "type": ["string", "null"],
                "pattern": "^https?://",
                "description": "Base of the Prefect UI for run links; default: derived from the API URL as "
                "Prefect does (the url without /api; app.prefect.cloud for Prefect Cloud).",
            },
            "work-queue-name": {
                "type": "string",
                "description": "Work queue of the deployment's work pool to run in (created if missing).",
            },
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Extra tags on every flow run, besides the CI provenance tags.",
            },
            "job-variables": {
                "type": "object",
                "description": "Job variables overriding the deployment's work pool defaults for these runs.",
            },
            "events": {
                "type": "boolean",
                "default": True,
                "description": "Follow runs on Prefect's event websocket (/api/events/out) instead of polling; "
                "polling takes over when the stream cannot be opened.",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api = api_url(self.config.url, self.opts["api-path"])
        self.ui = (self.opts.get("ui-url") or ui_url(self.api)).rstrip("/")
        self._deployments: dict[str, str] = {}
        self._terminal_at: dict[str, float] = {}
        self._auth = self._auth_headers()
        self._durations = DurationCache(self.type_name, self.http)

    # -- requests ---------------------------------------------------------------------------

    def _auth_string(self) -> str | None:
        """The credential as Prefect's own clients hold it: the API key, or PREFECT_API_AUTH_STRING."""
        cfg = self.config
        if cfg.auth_type == "basic":
            # PREFECT_API_AUTH_STRING is "user:pass" in one secret; it may come as the password alone.
            username, password = cfg.username or "", cfg.password or ""
            pair = password if not username and ":" in password else f"{username}:{password}"
            REDACTOR.add(pair)
            return pair
        return None if cfg.auth_type == "none" else cfg.token

    def _auth_headers(self) -> dict[str, str]:
        credential = self._auth_string()
        if not credential or self.config.auth_type != "basic":
            return auth_headers(self.config)
        # The auth string may be the password alone ("user:pass" in one secret): encoded as it is.
        encoded = base64.b64encode(credential.encode()).decode()
        REDACTOR.add(encoded)
        return {"Authorization": f"Basic {encoded}"}

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "application/json", **self._auth}
        return self.http.request(method, f"{self.api}{path}", what=what, headers=headers, **kwargs)

    # -- trigger ----------------------------------------------------------------------------

    def _body(self, request: TriggerRequest) -> dict[str, Any]:
        tags = [str(t) for t in self.opts.get("tags", [])]
        tags += [f"{key}:{value}" for key, value in request.labels.items()]
        for key in _PROVENANCE_TAGS:
            value = request.provenance.get(f"ci.{key}")
            if value:
                tags.append(f"{key}:{value}")
        body: dict[str, Any] = {
            "parameters": dict(request.params),
            "idempotency_key": request.idempotency_key,
            "tags": tags,
        }
        if request.start_at is not None:
            body["state"] = {
                "type": "SCHEDULED",
                "state_details": {"scheduled_time": request.start_at.astimezone(timezone.utc).isoformat()},
            }
        if self.opts.get("work-queue-name"):
            body["work_queue_name"] = self.opts["work-queue-name"]
        if self.opts.get("job-variables"):
            body["job_variables"] = dict(self.opts["job-variables"])
        return body

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        target = deployment_target(request.job)
        # A dry run sends nothing, so a name's deployment id stays unresolved in the shown URL.
        where = target if isinstance(target, str) else f"{{id of {target[0]}/{target[1]}}}"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update({k: MASK for k in self._auth})
        return PreparedRequest("POST", f"{self.api}/deployments/{where}/create_flow_run", headers, self._body(request))

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        deployment_id = self._deployment_id(request.job, deadline)
        response = self._call(
            "POST",
            f"/deployments/{deployment_id}/create_flow_run",
            f"trigger {request.job}",
            json=self._body(request),
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code == 404:
            raise RejectedError(
                f"trigger {request.job}: Prefect has no deployment with id {deployment_id} (HTTP 404)",
                hint="use the deployment's id from `prefect deployment inspect flow/deployment`, or its name",
                status_code=404,
            )
        if response.status_code in (400, 409, 422):
            raise RejectedError(
                f"trigger {request.job}: Prefect rejected the flow run (HTTP {response.status_code}): "
                f"{_detail(response)}",
                hint="match params to the deployment's parameter schema (`prefect deployment inspect`)",
                status_code=response.status_code,
            )
        raise_for_response(response, f"trigger {request.job}")
        run_id = str(_object(response, f"trigger {request.job}").get("id") or "")
        if not run_id:
            raise PlatformError(f"trigger {request.job}: Prefect's answer has no flow run id")
        # 200 instead of 201: the idempotency key matched a run an earlier attempt created.
        return TriggerOutcome(RunRef(run_id, self.run_url(run_id)), adopted=response.status_code == 200)

    def _deployment_id(self, job: str, deadline: float | None) -> str:
        target = deployment_target(job)
        if isinstance(target, str):
            return target
        if job in self._deployments:
            return self._deployments[job]
        flow, name = target
        what = f"find deployment {job}"
        response = self._call(
            "GET",
            f"/deployments/name/{quote(flow, safe='')}/{quote(name, safe='')}",
            what,
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code == 404:
            raise RejectedError(
                f"{what}: Prefect has no deployment '{name}' of flow '{flow}' (HTTP 404 from {self.api})",
                hint="job is 'flow-name/deployment-name' as `prefect deployment ls` lists it, or a deployment id",
                status_code=404,
            )
        raise_for_response(response, what)
        deployment_id = str(_object(response, what).get("id") or "")
        if not deployment_id:
            raise PlatformError(f"{what}: Prefect's answer has no deployment id")
        self._deployments[job] = deployment_id
        return deployment_id

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        deployment_id = self._deployment_id(job, deadline)
        body = {
            "flow_runs": {"state": {"type": {"any_": _ACTIVE_STATE_TYPES}}},
            "deployments": {"id": {"any_": [deployment_id]}},
            "limit": 200,
        }
        response = self._call("POST", "/flow_runs/filter", f"list active runs of {job}", json=body, deadline=deadline)
        runs = _json(response, f"list active runs of {job}")
        return [RunRef(str(run["id"]), self.run_url(str(run["id"]))) for run in runs if isinstance(run, dict)]

    def run_url(self, run_id: str) -> str:
        return f"{self.ui}/runs/flow-run/{run_id}"

    # -- waiting ----------------------------------------------------------------------------

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        what = f"status of flow run {run.run_id}"
        document = _object(self._call("GET", f"/flow_runs/{run.run_id}", what, deadline=deadline), what)
        return self._status(run, str(document.get("state_type") or "SCHEDULED"), str(document.get("state_name") or ""))

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        wanted = {run.run_id: run for run in runs}
        body = {"flow_runs": {"id": {"any_": list(wanted)}}, "limit": BATCH_LIMIT}
        what = f"statuses of {len(wanted)} flow runs"
        listed = _json(self._call("POST", "/flow_runs/filter", what, json=body, deadline=deadline), what)
        found: dict[str, RunStatus] = {}
        for document in listed if isinstance(listed, list) else []:
            run = wanted.get(str(document.get("id"))) if isinstance(document, dict) else None
            if run is not None:
                state_type = str(document.get("state_type") or "SCHEDULED")
                found[run.run_id] = self._status(run, state_type, str(document.get("state_name") or ""))
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median `total_run_time` of the deployment's last completed flow runs."""
        body = {
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
            "deployments": {"id": {"any_": [self._deployment_id(job, deadline)]}},
            "sort": "END_TIME_DESC",
            "limit": RECENT_RUNS,
        }
        what = f"recent completed runs of {job}"
        listed = _json(self._call("POST", "/flow_runs/filter", what, json=body, deadline=deadline), what)
        return median_duration(_run_time(run) for run in listed if isinstance(run, dict))

    def _status(self, run: RunRef, state_type: str, state_name: str) -> RunStatus:
        state = STATES.get(state_type.upper(), RunState.RUNNING)
        if state.terminal:
            self._terminal_at.setdefault(run.run_id, self.clock.monotonic())
        return RunStatus(state=state, raw=state_name or state_type.title(), url=run.url or self.run_url(run.run_id))

    def watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus] | None:
        return self._follow_events(run, deadline) if self.opts["events"] else None

    def _follow_events(self, run: RunRef, deadline: float) -> Iterator[RunStatus]:
        """States as Prefect pushes them; the REST state is read at the start, at the end, and every 30 s.

        As Prefect's own wait_for_flow_run does, a terminal event is confirmed by reading the run.
        """
        events = FlowRunEvents.open(
            self.api,
            run.run_id,
            token=self._auth_string(),
            tls=self.http.options.tls,
            timeout=self.connect_timeout(deadline),
            now=self.clock.now(),
        )
        try:
            # Read after subscribing: a change before this read is in it, every later one is pushed.
            status, checked = self.status(run, deadline), self.clock.monotonic()
            beats = int(max(0.0, deadline - checked) / EVENTS_HEARTBEAT_S) + 1
            for _ in range(beats * 2):  # quiet spells take a heartbeat each; events arrive far fewer
                yield status
                left = deadline - self.clock.monotonic()
                if status.state.terminal or left <= 0:
                    return
                pushed = events.next_state(min(EVENTS_HEARTBEAT_S, left))
                if pushed and not STATES.get(pushed[0], RunState.RUNNING).terminal:
                    status = self._status(run, *pushed)
                elif pushed or self.clock.monotonic() - checked >= EVENTS_SAFETY_POLL_S:
                    status, checked = self.status(run, deadline), self.clock.monotonic()
        finally:
            events.close()

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        position = cursor if isinstance(cursor, LogCursor) else LogCursor()
        text, position = self._read_logs(run, position)
        terminal_at = self._terminal_at.get(run.run_id)
        if terminal_at is None or position.finished:
            return LogChunk(text, position, complete=position.finished)
        # The run is over; its last lines are still on their way (a bounded wait, not a poll forever).
        for _ in range(int(LATE_LOGS_S / LATE_LOGS_POLL_S) + 1):
            left = terminal_at + LATE_LOGS_S - self.clock.monotonic()
            if left <= 0 or self.clock.sleep(min(LATE_LOGS_POLL_S, left), self.clock.cancellation.event):
                break
            try:
                more, position = self._read_logs(run, position)
            except PlatformError:
                break
            text += more
            if position.finished:
                break
        return LogChunk(text, position, complete=True)

    def _read_logs(self, run: RunRef, position: LogCursor) -> tuple[str, LogCursor]:
        lines: list[str] = []
        for _ in range(LOG_PAGES_PER_CALL):
            log_filter: dict[str, Any] = {"flow_run_id": {"any_": [run.run_id]}}
            if position.after:
                # `after_` is inclusive (timestamp >= after_), so ids read at that instant are skipped.
                log_filter["timestamp"] = {"after_": position.after}
            body = {"logs": log_filter, "sort": "TIMESTAMP_ASC", "limit": LOG_PAGE}
            what = f"logs of flow run {run.run_id}"
            page = _json(self._call("POST", "/logs/filter", what, json=body), what)
            if not isinstance(page, list):
                break
            fresh = [entry for entry in page if str(entry.get("id")) not in position.seen]
            for entry in fresh:
                lines.append(_format_log(entry))
                position = _advance(position, entry)
            if len(page) < LOG_PAGE or not fresh:
                break
        return "".join(line + "\n" for line in lines), position

    def cancel(self, run: RunRef) -> None:
        """Ask Prefect to cancel as `prefect flow-run cancel` does; force only what orchestration refuses.

        Orchestrated, a run not yet started goes straight to CANCELLED and a finished one stays as it
        is; a forced CANCELLING would leave a never-started run stuck in CANCELLING.
        """
        result = self._set_state(run, force=False)
        state_type = str((result.get("state") or {}).get("type") or "").upper()
        if result.get("status") == "ACCEPT" or state_type in ("CANCELLING", "CANCELLED"):
            return
        if STATES.get(state_type, RunState.RUNNING).terminal:
            return  # it ended before the cancel arrived; nothing to stop
        self._set_state(run, force=True)

    def _set_state(self, run: RunRef, *, force: bool) -> dict[str, Any]:
        what = f"cancel flow run {run.run_id}"
        body = {"state": {"type": "CANCELLING", "message": "cancelled by trigger-schedule"}, "force": force}
        return _object(self._call("POST", f"/flow_runs/{run.run_id}/set_state", what, json=body), what)


# -- helpers ----------------------------------------------------------------------------------


def deployment_target(job: str) -> str | tuple[str, str]:
    """A deployment id (UUID) as is, or `flow/deployment` split in two."""
    try:
        return str(uuid.UUID(job))
    except ValueError:
        pass
    flow, _, name = job.partition("/")
    if not flow or not name:
        raise ConfigError(
            f"prefect job {job!r} is neither 'flow-name/deployment-name' nor a deployment id",
            hint="write job: my-flow/my-deployment, as `prefect deployment ls` lists it",
        )
    return flow, name


def api_url(url: str, api_path: str) -> str:
    """The REST API's base: the url plus api-path, unless the url already holds it (a PREFECT_API_URL)."""
    url = url.rstrip("/")
    segment = "/" + api_path.strip("/")
    if segment == "/":
        return url
    path = urlsplit(url).path.rstrip("/") + "/"
    return url if segment + "/" in path else url + segment


def ui_url(api: str) -> str:
    """The UI base as Prefect derives it (src/prefect/settings/models/_defaults.py, default_ui_url)."""
    ui = re.sub(r"^https://api([.\w]*)\.prefect\.([^./]+)/", r"https://app\1.prefect.\2/", api + "/").rstrip("/")
    if ui.endswith("/api"):
        ui = ui[:-4]
    return ui.replace("/api/", "/").replace("/accounts/", "/account/").replace("/workspaces/", "/workspace/")


def _advance(position: LogCursor, entry: Mapping[str, Any]) -> LogCursor:
    stamp = str(entry.get("timestamp") or "")
    entry_id = str(entry.get("id"))
    finished = position.finished or (
        entry.get("task_run_id") is None and bool(_FINISHED.match(str(entry.get("message") or "")))
    )
    if stamp == position.after:
        return LogCursor(stamp, position.seen | {entry_id}, finished)
    return LogCursor(stamp or position.after, frozenset({entry_id}), finished)


def _run_time(run: Mapping[str, Any]) -> float | None:
    """A flow run's `total_run_time` (seconds: the server serializes timedeltas as floats), else its span."""
    total = run.get("total_run_time")
    if isinstance(total, int | float) and not isinstance(total, bool) and total > 0:
        return float(total)
    return iso_seconds(run.get("start_time"), run.get("end_time"))


def _format_log(entry: Mapping[str, Any]) -> str:
    """One line as Prefect's console shows it: `12:00:01.123 | INFO    | logger - message`."""
    stamp = str(entry.get("timestamp") or "")
    try:
        shown = datetime.fromisoformat(stamp.replace("Z", "+00:00")).strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        shown = stamp
    level = _LEVELS.get(int(entry.get("level") or 0), str(entry.get("level")))
    return f"{shown} | {level:<7} | {entry.get('name', '')} - {entry.get('message', '')}"


def _json(response: requests.Response, what: str) -> Any:
    return json_body(
        response,
        what,
        hint="point url at the Prefect server (e.g. http://host:4200) or its API URL, not another service",
    )


def _object(response: requests.Response, what: str) -> dict[str, Any]:
    document = _json(response, what)
    if not isinstance(document, dict):
        raise PlatformError(f"{what}: expected a JSON object from Prefect, got {type(document).__name__}")
    return document


def _detail(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return REDACTOR.redact(response.text[:300])
    detail = document.get("detail", document) if isinstance(document, dict) else document
    return REDACTOR.redact(str(detail)[:500])
