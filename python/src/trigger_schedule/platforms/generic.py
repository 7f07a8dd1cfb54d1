"""The generic scheduler contract: any in-house scheduler with a plain HTTP API.

Defaults (each is an `options:` key) follow the seed contract
`POST {url}/v1/jobs/trigger` `{"jobName": ..., "parameters": {...}}` with a Bearer token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from trigger_schedule import jsonpointer
from trigger_schedule.backoff import parse_retry_after
from trigger_schedule.durations import parse_duration
from trigger_schedule.errors import ConfigError, PlatformError, RejectedError
from trigger_schedule.http import json_body
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
from trigger_schedule.secrets import MASK, read_secret

DEFAULT_STATES: dict[str, RunState] = {
    **dict.fromkeys(("queued", "pending", "running", "scheduled", "started"), RunState.RUNNING),
    **dict.fromkeys(("success", "succeeded", "completed", "complete", "done"), RunState.SUCCEEDED),
    **dict.fromkeys(("failed", "failure", "error", "errored", "timeout", "timed_out"), RunState.FAILED),
    **dict.fromkeys(("cancelled", "canceled", "aborted", "stopped", "killed"), RunState.CANCELLED),
}


_URL_OR_OFF = {"type": ["string", "null"]}
# A bound on long-poll rounds per wait (each holds up to `long-poll`, so this is hours, not a limit users meet).
MAX_LONG_POLLS = 10_000
_POINTERS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class GenericPlatform(Platform):
    type_name = "generic"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "key lookup / `Idempotency-Key`",
        "waits": "long-poll (`wait=`), else polling with the server's Retry-After hint",
        "logs": "offset-based",
        "cancel": "yes",
        "defers": "no",
        "concurrency": "`active-url`",
        "batch": "`batch-status-url` (`GET /v1/jobs/runs?ids=`), 100 a call, long-polled",
    }
    can_list_active = True
    batch_status_limit = 100  # `batch-size`'s default; an instance takes its plan's, or 0 without batch-status-url
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "trigger-url": {
                "default": "{url}/v1/jobs/trigger",
                "type": "string",
                "description": "Trigger endpoint (POST).",
            },
            "run-id-pointer": {
                "default": ["/runId", "/id"],
                **_POINTERS,
                "description": "JSON pointer(s) to the run id in the trigger answer.",
            },
            "run-url-pointer": {
                "default": ["/runUrl", "/url"],
                **_POINTERS,
                "description": "JSON pointer(s) to a link to the run.",
            },
            "run-url": {
                "default": None,
                **_URL_OR_OFF,
                "description": "Link template for the run when the answer has none.",
            },
            "status-url": {
                "default": "{url}/v1/jobs/runs/{runId}",
                "type": "string",
                "description": "Status endpoint (GET).",
            },
            "batch-status-url": {
                "default": "{url}/v1/jobs/runs?ids={runIds}",
                **_URL_OR_OFF,
                "description": "Status of many runs in one request (GET; `{runIds}`: comma-separated, each "
                "URL-encoded), answering the runs at find-pointer; with long-poll, `wait=` asks it to answer once "
                "one of them has ended. A server without it (an error answer) is read one run at a time; null: never "
                "ask.",
            },
            "batch-size": {
                "default": 100,
                "type": "integer",
                "minimum": 1,
                "maximum": 1000,
                "description": "Runs per batch status request; each id adds its length and 3 bytes to the URL, which "
                "servers and proxies often cap at 8 KB.",
            },
            "long-poll": {
                # Short enough that a cancel (SIGINT/SIGTERM) is never held up longer than this by a waiting request.
                "default": "5s",
                "type": ["string", "number"],
                "description": "Ask the status endpoint to answer only when the state changes, or after this long "
                "(`wait=` and `state=` query parameters; a server that does it says so with a Long-Poll header, "
                "one that does not is polled as before); 0: never ask.",
            },
            "status-pointer": {
                "default": "/status",
                "type": "string",
                "description": "JSON pointer to the state word.",
            },
            "states": {
                "default": {},
                "type": "object",
                "additionalProperties": {"enum": ["running", "succeeded", "failed", "cancelled"]},
                "description": "Extra state words mapped to running/succeeded/failed/cancelled.",
            },
            "find-url": {
                "default": "{url}/v1/jobs/runs?idempotencyKey={idempotencyKey}",
                **_URL_OR_OFF,
                "description": "Lookup of runs by idempotency key (GET); null: none.",
            },
            "find-pointer": {
                "default": "/runs",
                "type": "string",
                "description": "JSON pointer to the list of runs found.",
            },
            "active-url": {
                "default": "{url}/v1/jobs/runs?jobName={job}&active=true",
                **_URL_OR_OFF,
                "description": "Lookup of a job's unfinished runs (GET), for concurrency policies; null: none.",
            },
            "logs-url": {
                "default": "{url}/v1/jobs/runs/{runId}/logs?offset={offset}",
                **_URL_OR_OFF,
                "description": "Offset-based logs endpoint (GET); null: none.",
            },
            "logs-content-pointer": {"default": "/content", "type": "string"},
            "logs-offset-pointer": {"default": "/nextOffset", "type": "string"},
            "cancel-url": {
                "default": "{url}/v1/jobs/runs/{runId}/cancel",
                **_URL_OR_OFF,
                "description": "Cancel endpoint; null: cannot cancel.",
            },
            "cancel-method": {"default": "POST", "enum": ["POST", "PUT", "PATCH", "DELETE"]},
            "idempotency-header": {"default": "Idempotency-Key", "type": "string"},
            "signing": {
                "default": None,
                "type": ["object", "null"],
                "additionalProperties": False,
                "required": ["secret-env"],
                "description": "HMAC-SHA256 signing of timestamp + body.",
                "properties": {
                    "secret-env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "signature-header": {"type": "string", "default": "X-Trigger-Schedule-Signature"},
                    "timestamp-header": {"type": "string", "default": "X-Trigger-Schedule-Timestamp"},
                },
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._auth = auth_headers(self.config)
        self.states = {**DEFAULT_STATES, **{k.lower(): RunState(v) for k, v in self.opts["states"].items()}}
        self._signing_secret: bytes | None = None
        signing = self.opts["signing"]
        if signing:
            secret = read_secret(
                env_name=signing["secret-env"], file_path=None, environ=self.config.environ, what="signing"
            )
            if not secret:
                raise ConfigError(
                    f"platform {self.config.name}: options.signing.secret-env names "
                    f"{signing['secret-env']}, which is not set",
                    hint="export the signing secret in that variable, or remove options.signing",
                )
            self._signing_secret = secret.encode()
        self._logs_supported = bool(self.opts["logs-url"])
        self.batch_status_limit = int(self.opts["batch-size"]) if self.opts["batch-status-url"] else 0
        self._find_supported = bool(self.opts["find-url"])

    # -- requests ---------------------------------------------------------------------------

    def _url(self, template: str, **values: Any) -> str:
        encoded = {k: quote(str(v), safe="") for k, v in values.items()}
        return template.format(url=self.config.url.rstrip("/"), **encoded)

    def _trigger_parts(self, request: TriggerRequest) -> tuple[str, dict[str, str], bytes]:
        body = json.dumps(
            {"jobName": request.job, "parameters": dict(request.params)},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            self.opts["idempotency-header"]: request.idempotency_key,
            **self._auth,
        }
        if self._signing_secret is not None:
            signing = self.opts["signing"]
            stamp = str(int(self.clock.now().timestamp()))
            digest = hmac.new(self._signing_secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers[signing.get("timestamp-header", "X-Trigger-Schedule-Timestamp")] = stamp
            headers[signing.get("signature-header", "X-Trigger-Schedule-Signature")] = f"sha256={digest}"
        return self._url(self.opts["trigger-url"], job=request.job), headers, body

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        url, headers, body = self._trigger_parts(request)
        shown = {
            k: (MASK if k in self._auth or k.lower() == "authorization" or "signature" in k.lower() else v)
            for k, v in headers.items()
        }
        return PreparedRequest("POST", url, shown, json.loads(body))

    # -- the interface ----------------------------------------------------------------------

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        url, headers, body = self._trigger_parts(request)
        response = self.http.request(
            "POST", url, data=body, headers=headers, what=f"trigger {request.job}", deadline=deadline
        )
        document = _json(response, f"trigger {request.job}")
        run = self._run_ref(document, f"trigger {request.job}")
        replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
        return TriggerOutcome(run=run, adopted=replayed)

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        if not self._find_supported:
            return None
        url = self._url(self.opts["find-url"], idempotencyKey=request.idempotency_key, job=request.job)
        response = self.http.request(
            "GET",
            url,
            headers=self._auth,
            what=f"look up earlier runs of {request.job}",
            deadline=deadline,
            raise_for_status=False,
        )
        if response.status_code in (404, 405, 501):
            self._find_supported = False  # the scheduler has no lookup; the idempotency header still applies
            return None
        from trigger_schedule.http import raise_for_response

        raise_for_response(response, f"look up earlier runs of {request.job}")
        runs = jsonpointer.resolve(_json(response, "run lookup"), self.opts["find-pointer"])
        if not isinstance(runs, list) or not runs:
            return None
        return self._run_ref(runs[-1], "run lookup")

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        template = self.opts["active-url"]
        if not template:
            raise PlatformError(
                f"platform {self.config.name}: options.active-url is off, so active runs of {job} cannot be listed",
                hint="set options.active-url, or use concurrency: allow",
            )
        response = self.http.request(
            "GET",
            self._url(template, job=job),
            headers=self._auth,
            what=f"list active runs of {job}",
            deadline=deadline,
        )
        runs = jsonpointer.resolve(_json(response, "active runs"), self.opts["find-pointer"])
        return [self._run_ref(run, "active runs") for run in runs] if isinstance(runs, list) else []

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        return self._status(run, deadline)[0]

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        ids = ",".join(quote(run.run_id, safe="") for run in runs)
        url = self.opts["batch-status-url"].format(url=self.config.url.rstrip("/"), runIds=ids)
        hold = parse_duration(self.opts["long-poll"], "options.long-poll")
        if deadline is not None:
            hold = max(0.0, min(hold, deadline - self.clock.monotonic()))
        response = self._held_get(url, f"status of {len(runs)} runs", deadline, hold, raise_for_status=False)
        if response.status_code in (400, 404, 405, 501):
            self.batch_status_limit = 0  # the scheduler has no batch endpoint: read one run at a time from now on
            return {}
        from trigger_schedule.http import raise_for_response

        raise_for_response(response, f"status of {len(runs)} runs")
        listed = jsonpointer.resolve(_json(response, "batch status"), self.opts["find-pointer"])
        held = bool(hold) and "Long-Poll" in response.headers
        hint = 0.0 if held else parse_retry_after(response.headers.get("Retry-After"))
        asked = {run.run_id: run for run in runs}
        statuses: dict[str, RunStatus] = {}
        for document in listed if isinstance(listed, list) else []:
            run_id = str(jsonpointer.first(document, _as_list(self.opts["run-id-pointer"])))
            word = jsonpointer.resolve(document, self.opts["status-pointer"])
            if run_id in asked and word is not None:  # a server that ignores `ids` may list others too
                statuses[run_id] = RunStatus(self._state_of(word), str(word), url=asked[run_id].url, poll_after=hint)
        return statuses

    def watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus] | None:
        """Long-poll: each status request held by the server until the state changes; None when not asked."""
        hold = parse_duration(self.opts["long-poll"], "options.long-poll")
        return self._long_poll(run, deadline, hold) if hold > 0 else None

    def _long_poll(self, run: RunRef, deadline: float, hold: float) -> Iterator[RunStatus]:
        last: RunStatus | None = None
        for _ in range(MAX_LONG_POLLS):
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return
            wait = min(hold, left)
            before = self.clock.monotonic()
            status, held = self._status(run, deadline, wait=wait, state=last.raw if last else None)
            yield status
            if status.state.terminal or not held:
                return  # ended, or the server answers at once: the core polls from here
            if self.clock.monotonic() <= before and last is not None and status.raw == last.raw:
                return  # a hold that took no time on this clock (an injected one) cannot bound the wait: poll
            last = status

    def _state_of(self, word: Any) -> RunState:
        """The state a status word means: the defaults and options.states, case-insensitive; else running."""
        return self.states.get(str(word).lower(), RunState.RUNNING)

    def _held_get(
        self,
        url: str,
        what: str,
        deadline: float | None,
        wait: float | None,
        params: dict[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> requests.Response:
        """A status GET; with `wait`, asking the server to hold it that long (long-poll) and reading that long more."""
        return self.http.request(
            "GET",
            url,
            headers={"Accept": "application/json", **self._auth},
            what=what,
            deadline=deadline,
            params={"wait": f"{wait:g}s", **(params or {})} if wait else None,
            read_timeout=(wait + self.http.options.read_timeout) if wait else None,
            raise_for_status=raise_for_status,
        )

    def _status(
        self, run: RunRef, deadline: float | None, wait: float | None = None, state: str | None = None
    ) -> tuple[RunStatus, bool]:
        """The run's status, and whether the server held the request (it supports long-poll)."""
        url = self._url(self.opts["status-url"], runId=run.run_id)
        what = f"status of run {run.run_id}"
        response = self._held_get(url, what, deadline, wait, {"state": state} if state else None)
        document = _json(response, f"status of run {run.run_id}")
        word = jsonpointer.resolve(document, self.opts["status-pointer"])
        if word is None:
            raise PlatformError(
                f"status of run {run.run_id}: no state at {self.opts['status-pointer']} in the answer",
                hint="set options.status-pointer to where the scheduler puts the state",
            )
        raw = str(word)
        hint = parse_retry_after(response.headers.get("Retry-After"))
        status = RunStatus(state=self._state_of(raw), raw=raw, url=run.url, poll_after=hint)
        return status, bool(wait) and "Long-Poll" in response.headers

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        if not self._logs_supported:
            return None
        offset = int(cursor or 0)
        url = self._url(self.opts["logs-url"], runId=run.run_id, offset=offset)
        response = self.http.request(
            "GET", url, headers=self._auth, what=f"logs of run {run.run_id}", raise_for_status=False
        )
        if response.status_code in (404, 405, 501):
            self._logs_supported = False
            return None
        if response.status_code >= 400:
            return LogChunk("", offset)
        document = _json(response, f"logs of run {run.run_id}")
        text = jsonpointer.resolve(document, self.opts["logs-content-pointer"]) or ""
        next_offset = jsonpointer.resolve(document, self.opts["logs-offset-pointer"])
        if not isinstance(next_offset, int):
            next_offset = offset + len(str(text))
        return LogChunk(str(text), next_offset)

    def cancel(self, run: RunRef) -> None:
        template = self.opts["cancel-url"]
        if not template:
            raise PlatformError(f"run {run.run_id}: this scheduler has no cancel-url configured")
        self.http.request(
            self.opts["cancel-method"],
            self._url(template, runId=run.run_id),
            headers=self._auth,
            what=f"cancel run {run.run_id}",
        )

    def _run_ref(self, document: Any, what: str) -> RunRef:
        run_id = jsonpointer.first(document, _as_list(self.opts["run-id-pointer"]))
        if run_id is None:
            raise RejectedError(
                f"{what}: the answer has no run id at {', '.join(_as_list(self.opts['run-id-pointer']))}",
                hint="set options.run-id-pointer to the JSON pointer of the run id in the trigger answer",
            )
        url = jsonpointer.first(document, _as_list(self.opts["run-url-pointer"]))
        if url is None and self.opts["run-url"]:
            url = self._url(self.opts["run-url"], runId=run_id)
        return RunRef(run_id=str(run_id), url=str(url) if url else None)


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _json(response: requests.Response, what: str) -> Any:
    return json_body(response, what, hint="check the platform url points at the scheduler's API, not its web UI")
