"""Rundeck (API v18+; v44 by default, Rundeck 4.11+): run a job, follow its execution, stream its log output.

Follows rundeck/rundeck: ScheduledExecutionController.apiJobRun (`POST /api/{v}/job/{id}/run`),
ExecutionController (`/execution/{id}`, `/output`, `/abort`), ExecutionService (option handling, statuses).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timezone
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from trigger_schedule.errors import ConfigError, PlatformError, RejectedError, UnreachableError
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
)
from trigger_schedule.platforms.history import RECENT_RUNS, DurationCache, epoch_seconds, median_duration
from trigger_schedule.secrets import MASK

DEFAULT_API_VERSION = 44
TOKEN_HEADER = "X-Rundeck-Auth-Token"
CONFLICT_CODE = "api.error.execution.conflict"
UNSUPPORTED_VERSION_CODE = "api.error.api-version.unsupported"

# ExecutionConstants: every word an execution's `status` can hold.
STATES: dict[str, RunState] = {
    **dict.fromkeys(("running", "scheduled", "queued"), RunState.RUNNING),
    "succeeded": RunState.SUCCEEDED,
    **dict.fromkeys(("failed", "timedout", "failed-with-retry", "other", "missed"), RunState.FAILED),
    "aborted": RunState.CANCELLED,
}


_OPTION_NAME = {"type": ["string", "null"], "pattern": "^[A-Za-z0-9_.-]+$"}


class RundeckPlatform(Platform):
    type_name = "rundeck"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "key option lookup",
        "waits": "polling",
        "logs": "execution output",
        "cancel": "abort",
        "defers": "`runAtTime`",
        "concurrency": "yes",
        "batch": "no (no execution-id filter)",
    }
    can_list_active = True
    can_defer = True
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "api-version": {
                "default": DEFAULT_API_VERSION,
                "type": "integer",
                "minimum": 18,
                "description": "Rundeck API version in the URL (default 44, which needs Rundeck 4.11 or newer; "
                "18 or later: options and runAtTime need 18).",
            },
            "key-option": {
                "default": "trigger_schedule_key",
                **_OPTION_NAME,
                "description": "Job option that carries the idempotency key, so a re-run finds and adopts "
                "its execution (default trigger_schedule_key); null: no adoption.",
            },
            "provenance-option": {
                "default": "trigger_schedule_ci",
                **_OPTION_NAME,
                "description": "Job option that carries the CI provenance (repository, sha, pipeline URL, "
                "actor) (default trigger_schedule_ci); null: send none.",
            },
            "loglevel": {
                "default": None,
                "enum": ["DEBUG", "VERBOSE", "INFO", "WARN", "ERROR", None],
                "description": "Log level of the execution (`loglevel`).",
            },
            "as-user": {
                "default": None,
                "type": ["string", "null"],
                "description": "Run as this user (`asUser`; the token needs the runAs permission).",
            },
            "filter": {
                "default": None,
                "type": ["string", "null"],
                "description": "Node filter overriding the job's (`filter`).",
            },
            "find-max": {
                "default": 50,
                "type": "integer",
                "minimum": 1,
                "maximum": 1000,
                "description": "How many running, scheduled and recent executions of the job to search for "
                "this CI context's run (each).",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.config.auth_type == "basic":
            raise ConfigError(
                f"platform {self.config.name}: Rundeck's API takes an API token, not a username and password",
                hint="create a token (User > Profile > User API Tokens) and use auth: {type: bearer, token-env: ...}",
            )
        self._durations = DurationCache(self.type_name, self.http)

    # -- requests ---------------------------------------------------------------------------

    def _api(self, path: str) -> str:
        return f"{self.config.url.rstrip('/')}/api/{int(self.opts['api-version'])}/{path}"

    def _job_path(self, job: str, tail: str) -> str:
        return self._api(f"job/{quote(job, safe='')}/{tail}")

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.config.token and self.config.auth_type in ("bearer", "header"):
            # Rundeck's API token travels in its own header; auth.type: header may name another (a proxy's).
            custom = self.config.auth_type == "header" and self.config.auth_header != "Authorization"
            headers[self.config.auth_header if custom else TOKEN_HEADER] = self.config.token
        return headers

    def _get(self, url: str, what: str, deadline: float | None = None, job: str = "", **params: Any) -> Any:
        response = self.http.request(
            "GET",
            url,
            params=params or None,
            headers=self._headers(),
            what=what,
            deadline=deadline,
            raise_for_status=False,
        )
        _raise_for_answer(response, what, job)
        return _json(response, what)

    def _run_body(self, request: TriggerRequest) -> dict[str, Any]:
        options = {str(k): option_value(v) for k, v in request.params.items()}
        if self.opts["key-option"]:
            options[self.opts["key-option"]] = request.idempotency_key
        if self.opts["provenance-option"] and request.provenance:
            options[self.opts["provenance-option"]] = provenance_text(request.provenance)
        body: dict[str, Any] = {"options": options}
        for option, field in (("loglevel", "loglevel"), ("as-user", "asUser"), ("filter", "filter")):
            if self.opts[option]:
                body[field] = self.opts[option]
        if request.start_at is not None:
            body["runAtTime"] = request.start_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return body

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        headers = {k: (v if k == "Accept" else MASK) for k, v in self._headers().items()}
        headers["Content-Type"] = "application/json"
        return PreparedRequest("POST", self._job_path(request.job, "run"), headers, self._run_body(request))

    # -- the interface ----------------------------------------------------------------------

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        what = f"run Rundeck job {request.job}"
        try:
            response = self.http.request(
                "POST",
                self._job_path(request.job, "run"),
                json=self._run_body(request),
                headers=self._headers(),
                what=what,
                # Rundeck has no idempotency key: a re-sent POST would start a second execution.
                idempotent=False,
                deadline=deadline,
                raise_for_status=False,
            )
        except UnreachableError:
            # The answer was lost, not necessarily the request: the key option tells whether it started.
            started = self.find_existing(request, deadline) if self.opts["key-option"] else None
            if started is None:
                raise
            return TriggerOutcome(run=started)
        _raise_for_answer(response, what, request.job)
        return TriggerOutcome(run=self._run_ref(_json(response, what), what))

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        option = self.opts["key-option"]
        if not option:
            return None
        what = f"look up earlier executions of {request.job}"
        ours: dict[Any, dict[str, Any]] = {}
        # Rundeck sorts a job's executions by completion time, and H2, MySQL and SQL Server put the unfinished
        # ones (no completion time) after every finished one: running and scheduled ones are asked for apart.
        for status in ("running", "scheduled", None):
            query = {"max": self.opts["find-max"], **({"status": status} if status else {})}
            document = self._get(self._job_path(request.job, "executions"), what, deadline, job=request.job, **query)
            for execution in _executions(document):
                if _options_of(execution).get(option) == request.idempotency_key:
                    ours[execution.get("id")] = execution
        if not ours:
            return None
        # Two executions with one key only come from CI re-runs racing each other: the newest is ours too.
        return self._run_ref(max(ours.values(), key=lambda e: int(e.get("id", 0))), what)

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        what = f"list running executions of {job}"
        document = self._get(self._job_path(job, "executions"), what, deadline, job=job, status="running")
        return [self._run_ref(e, what) for e in _executions(document)]

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median date-ended - date-started of the job's last succeeded executions (the list is newest
        completed first). The job's `averageDuration` is a mean over all of them, outliers included."""
        what = f"recent succeeded executions of {job}"
        path = self._job_path(job, "executions")
        document = self._get(path, what, deadline, job=job, status="succeeded", max=RECENT_RUNS)
        return median_duration(
            epoch_seconds(_unixtime(e.get("date-started")), _unixtime(e.get("date-ended")), 1000.0)
            for e in _executions(document)
        )

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        what = f"status of execution {run.run_id}"
        document = self._get(self._api(f"execution/{quote(run.run_id, safe='')}"), what, deadline)
        raw = str(document.get("status") or "") if isinstance(document, dict) else ""
        if not raw:
            raise PlatformError(f"{what}: the answer has no status", hint="check the url points at Rundeck")
        if raw == "other" and document.get("customStatus"):
            raw = f"other ({document['customStatus']})"
            return RunStatus(RunState.FAILED, raw, run.url)
        return RunStatus(STATES.get(raw, RunState.RUNNING), raw, run.url)

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        offset, lastmod = cursor if isinstance(cursor, tuple) else ("0", "0")
        what = f"log output of execution {run.run_id}"
        response = self.http.request(
            "GET",
            self._api(f"execution/{quote(run.run_id, safe='')}/output"),
            params={"offset": offset, "lastmod": lastmod},
            headers=self._headers(),
            what=what,
            raise_for_status=False,
        )
        if response.status_code == 404:
            return None
        raise_for_response(response, what)
        document = _json(response, what)
        entries = document.get("entries") or []
        text = "".join(f"{e.get('log', '')}\n" for e in entries if isinstance(e, dict))
        next_cursor = (str(document.get("offset", offset)), str(document.get("lastModified", lastmod)))
        done = bool(document.get("execCompleted")) and bool(document.get("completed"))
        return LogChunk(text, next_cursor, complete=done)

    def cancel(self, run: RunRef) -> None:
        what = f"abort execution {run.run_id}"
        response = self.http.request(
            "POST", self._api(f"execution/{quote(run.run_id, safe='')}/abort"), headers=self._headers(), what=what
        )
        abort = _json(response, what).get("abort") or {}
        if abort.get("status") == "failed":
            raise PlatformError(f"{what}: Rundeck could not abort it: {abort.get('reason') or 'no reason given'}")

    def _run_ref(self, execution: Any, what: str) -> RunRef:
        if not isinstance(execution, dict) or execution.get("id") is None:
            raise PlatformError(f"{what}: the answer has no execution id", hint="check the url points at Rundeck")
        permalink = execution.get("permalink")
        return RunRef(run_id=str(execution["id"]), url=str(permalink) if permalink else None)


def option_value(value: Any) -> Any:
    """Rundeck option values are strings (ExecutionService.filterOptParams drops anything else)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return [option_value(v) for v in value]  # a multi-valued option takes a list of strings
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return str(value)


def provenance_text(provenance: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in provenance.items() if v)


def _raise_for_answer(response: requests.Response, what: str, job: str) -> None:
    """Rundeck's error codes (ApiService.renderErrorJson `errorCode`) made into errors that say what to do."""
    if response.status_code < 400:
        return
    code = _error_code(response)
    if response.status_code == 409 or code == CONFLICT_CODE:
        raise RejectedError(
            f"{what}: the job is already running and does not allow concurrent executions "
            f"(HTTP {response.status_code} {code or ''}): {_message(response)}",
            hint="wait for the running execution, use concurrency: wait or skip, or enable "
            "'Allow multiple executions' (and its limit) on the job",
            status_code=response.status_code,
        )
    if code == UNSUPPORTED_VERSION_CODE:
        raise _unsupported_version(response, what)
    if response.status_code == 404 and code == "api.error.item.doesnotexist" and job:
        raise RejectedError(
            f"{what}: Rundeck has no job with the id {job}: {_message(response)}",
            hint="set job: to the job's UUID (Job actions > Copy UUID in the Rundeck UI)",
            status_code=404,
        )
    raise_for_response(response, what)


def _unsupported_version(response: requests.Response, what: str) -> RejectedError:
    """ApiVersionInterceptor's answer ends with "Current version: N": the newest this server speaks."""
    message = _message(response)
    current = re.search(r"Current version: (\d+)", message)
    newest = f"options.api-version: {current.group(1)}" if current else "options.api-version to a version it serves"
    return RejectedError(
        f"{what}: this Rundeck does not serve the API version asked for (HTTP {response.status_code}): {message}",
        hint=f"set {newest} (18 or later) on the platform; "
        f"the default {DEFAULT_API_VERSION} needs Rundeck 4.11 or newer",
        status_code=response.status_code,
    )


def _error_code(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return ""
    return str(document.get("errorCode") or "") if isinstance(document, dict) else ""


def _message(response: requests.Response) -> str:
    try:
        document = response.json()
    except ValueError:
        return response.text[:300]
    return str(document.get("message") or "") if isinstance(document, dict) else ""


def _executions(document: Any) -> list[dict[str, Any]]:
    executions = document.get("executions") if isinstance(document, dict) else None
    return [e for e in executions or [] if isinstance(e, dict)]


def _unixtime(stamp: Any) -> Any:
    return stamp.get("unixtime") if isinstance(stamp, dict) else None


def _options_of(execution: Mapping[str, Any]) -> Mapping[str, Any]:
    """The options an execution ran with (the server parses them from its argstring)."""
    job = execution.get("job")
    options = job.get("options") if isinstance(job, dict) else None
    return options if isinstance(options, dict) else {}


def _json(response: requests.Response, what: str) -> Any:
    return json_body(response, what, hint="check the platform url is Rundeck's base URL (without /api) and reachable")
