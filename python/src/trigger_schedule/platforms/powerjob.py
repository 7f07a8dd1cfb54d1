"""PowerJob through its OpenAPI (`/openApi/*`, the API behind powerjob-client's PowerJobClient).

Follows PowerJob/PowerJob v5.1.1 (OpenAPIController, OpenApiInterceptor, OpenAPIConstant, InstanceStatus),
and 4.3.x for the login: 5.x logs in with `POST /openApi/authApp` (JSON, MD5 of the app password) and sends
`X-POWERJOB-APP-ID` + `X-POWERJOB-ACCESS-TOKEN` on every call; 4.x has only `POST /openApi/assert` (form
appName, password) and no per-call auth. Every answer is HTTP 200 `{success, data, message}`: failures are
`success: false`, so each answer is checked here, not by its HTTP status.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from trigger_schedule.durations import parse_duration
from trigger_schedule.errors import AuthError, ConfigError, PlatformError, RejectedError
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
from trigger_schedule.platforms.history import (
    RECENT_RUNS,
    DurationCache,
    epoch_seconds,
    local_seconds,
    median_duration,
)
from trigger_schedule.secrets import MASK, REDACTOR

# powerjob-common enums/InstanceStatus.java (v5.1.1).
STATES: dict[int, tuple[str, RunState]] = {
    1: ("WAITING_DISPATCH", RunState.RUNNING),
    2: ("WAITING_WORKER_RECEIVE", RunState.RUNNING),
    3: ("RUNNING", RunState.RUNNING),
    4: ("FAILED", RunState.FAILED),
    5: ("SUCCEED", RunState.SUCCEEDED),
    9: ("CANCELED", RunState.CANCELLED),
    10: ("STOPPED", RunState.CANCELLED),
}
# Instances read by one status_many: a page of queryInstance (InstancePageQuery takes any pageSize).
BATCH_PAGE = 100
ACTIVE_STATES = [1, 2, 3]
ACTIVE_WORDS = [STATES[v][0] for v in ACTIVE_STATES]
APP_HEADER = "X-POWERJOB-APP-ID"
TOKEN_HEADER = "X-POWERJOB-ACCESS-TOKEN"
AUTH_PASSED_HEADER = "X-POWERJOB-AUTH-PASSED"
# ErrorCodes.java: INCORRECT_PASSWORD, INVALID_TOKEN, TOKEN_EXPIRED, OPEN_API_AUTH_FAILED, USER_AUTH_FAILED.
_AUTH_CODES = {"-400", "-401", "-403", "-1002", "-102"}
# 4.x has no error codes: its /openApi/assert answers a wrong password with "PowerJobException: password error!".
_AUTH_WORDS = ("INCORRECT_PASSWORD", "INVALID_TOKEN", "TOKEN_EXPIRED", "OPEN_API_AUTH_FAILED", "token_is_empty",
               "password error!")  # fmt: skip
_PAGE_SIZE = 100
_MAX_PAGES = 20
# 4.x adoption reads each candidate's params with one call: only the job's most recently modified instances.
_CONSOLE_SCAN = 20
_LOG_PAGE_LINES = 100
_LOG_PAGES_PER_CALL = 10
# What /instance/log answers instead of log lines (InstanceLogService, OmsConstant).
_LOG_PLACEHOLDERS = ("SYSTEM: There is no online log", "log file is being prepared", "oms-server execution exception")
# OmsLogHandler reports a worker's log lines every 5 s (PowerJobWorker schedules it with a fixed delay).
WORKER_REPORT_S = 5.0
LATE_LOGS_S = 6.0
LATE_LOGS_POLL_S = 1.0
# A run this long that reported no log line does not log: no wait at its end.
QUIET_RUN_S = 12.0


@dataclass(frozen=True)
class _LogCursor:
    shown: tuple[str, ...] = ()  # the OpenAPI lines already printed: "dispatched", "finished"
    lines: int = 0  # worker log lines already printed
    worker_log: bool = True  # False once the console's log could not be read


@dataclass
class _Session:
    app_id: int
    token: str | None  # None on 4.x, which has no per-call auth


class PowerJobPlatform(Platform):
    type_name = "powerjob"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "key in `instanceParams` (5.1.1+: queryInstance; 4.x: the console's instance list)",
        "waits": "polling",
        "logs": "instance facts; the worker's log on 4.x",
        "cancel": "stop / cancel",
        "defers": "`delay`",
        "concurrency": "yes",
        "batch": "`/openApi/queryInstance` by id range, 100 a call (5.1.1+; none on 4.x)",
    }
    can_list_active = True
    batch_status_limit = BATCH_PAGE
    can_defer = True
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "app": {
                "type": "string",
                "description": "The PowerJob app name (appName). Default: the basic-auth username.",
            },
            "login": {
                "enum": ["auto", "auth-app", "assert"],
                "default": "auto",
                "description": "auth-app: 5.x /openApi/authApp and token headers; assert: 4.x /openApi/assert; "
                "auto: auth-app, falling back to assert when the server has no /openApi/authApp.",
            },
            "metadata-key": {
                "type": ["string", "null"],
                "default": "_triggerSchedule",
                "description": "Key added to the instanceParams JSON with the idempotency key and CI provenance "
                "(PowerJob instances have no tags); null sends the parameters alone and turns adoption off.",
            },
            "adopt": {
                "enum": ["auto", True, False],
                "default": "auto",
                "description": "Look up an instance this CI context already started (/openApi/queryInstance, "
                "PowerJob 5.1.1+). auto: where the server can, else warn and start a new one; true: a server "
                "that cannot is an error; false: never.",
            },
            "lookup-window": {
                "type": "string",
                "default": "24h",
                "description": "How far back (by instance creation time) a re-run looks for its earlier instance.",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = dict(self.config.options)
        self.root = self.config.url.rstrip("/")
        self.base = self.root + "/openApi"
        self.app_name = opts.get("app") or self.config.username or ""
        # The app password: basic auth's password, else the token variable (bearer/header).
        self.app_password = self.config.password if self.config.auth_type == "basic" else self.config.token
        self.login_mode: str = opts.get("login", "auto")
        self.metadata_key: str | None = opts.get("metadata-key", "_triggerSchedule")
        self.adopt: bool | str = opts.get("adopt", "auto") if self.metadata_key is not None else False
        self.lookup_window = parse_duration(opts.get("lookup-window", "24h"), "options.lookup-window")
        self._session: _Session | None = None
        self._job_ids: dict[str, int] = {}
        self._warned = False
        self._log_read_at: dict[str, float] = {}
        self._last_status: dict[str, RunState] = {}  # what status() last saw, so logs() asks only what changed
        self._durations = DurationCache(self.type_name, self.http)
        if not self.app_name:
            raise ConfigError(
                f"platform {self.config.name}: no PowerJob app name",
                hint="set options.app to the app's name (or use auth type basic with the app name as username)",
            )

    # -- login --------------------------------------------------------------------------------

    def _login(self, deadline: float | None) -> _Session:
        if self._session is None:
            if self.login_mode == "assert":
                self._session = self._assert_login(deadline)
            else:
                self._session = self._auth_app_login(deadline)
        return self._session

    def _auth_app_login(self, deadline: float | None) -> _Session:
        password = self.app_password or ""
        # AppAuthClusterRequestService sends the MD5 of the password; the server accepts it as the password.
        digest = hashlib.md5(password.encode()).hexdigest() if password else None
        REDACTOR.add(digest)
        body = {"appName": self.app_name, "encryptedPassword": digest, "encryptType": "md5"}
        response = self.http.request(
            "POST", f"{self.base}/authApp", json=body, what="log in to PowerJob", deadline=deadline,
            raise_for_status=False, secret_response=True,
        )  # fmt: skip
        if response.status_code == 404 and self.login_mode == "auto":
            return self._assert_login(deadline)  # PowerJob 4.x
        data = self._data(response, "log in to PowerJob (/openApi/authApp)", login=True)
        if not isinstance(data, Mapping) or "appId" not in data or not data.get("token"):
            raise PlatformError("log in to PowerJob: /openApi/authApp answered without appId and token")
        token = str(data["token"])
        REDACTOR.add(token)
        return _Session(app_id=int(data["appId"]), token=token)

    def _assert_login(self, deadline: float | None) -> _Session:
        form = {"appName": self.app_name}
        if self.app_password:
            form["password"] = self.app_password
        response = self.http.request(
            "POST", f"{self.base}/assert", data=form, what="log in to PowerJob", deadline=deadline,
            raise_for_status=False,
        )  # fmt: skip
        data = self._data(response, "log in to PowerJob (/openApi/assert)", login=True)
        return _Session(app_id=int(data), token=None)

    def _headers(self, session: _Session) -> dict[str, str]:
        if session.token is None:
            return {}
        return {APP_HEADER: str(session.app_id), TOKEN_HEADER: session.token}

    # -- calls ----------------------------------------------------------------------------------

    def _call(
        self, path: str, what: str, *, form: dict[str, Any] | None = None, body: Any = None,
        deadline: float | None = None, idempotent: bool = True,
    ) -> Any:  # fmt: skip
        """One OpenAPI call with the app's auth; a rejected token is refreshed once, as PowerJobClient does.

        A refused token means the call was not processed, so resending it is safe even for runJob.
        """
        for attempt in range(2):
            session = self._login(deadline)
            form_data = {"appId": session.app_id, **(form or {})} if body is None else None
            response = self.http.request(
                "POST", f"{self.base}{path}", data=form_data, json=body, headers=self._headers(session),
                what=what, deadline=deadline, raise_for_status=False, idempotent=idempotent,
            )  # fmt: skip
            passed = response.headers.get(AUTH_PASSED_HEADER, "").lower()
            if passed == "false" and session.token is not None and attempt == 0:
                self._session = None  # an expired token: log in again and resend
                continue
            return self._data(response, what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _data(self, response: requests.Response, what: str, login: bool = False) -> Any:
        if response.status_code >= 400:
            raise_for_response(response, what)
        hint = "the platform url must be the powerjob-server address (e.g. http://host:7700), not the console"
        document = json_body(response, what, hint=hint)
        if not isinstance(document, Mapping) or "success" not in document:
            raise PlatformError(f"{what}: the answer has no 'success' field: {str(document)[:200]}")
        if document["success"]:
            return document.get("data")
        raise _failure(what, str(document.get("message") or ""), str(document.get("code") or ""), login)

    # -- jobs -------------------------------------------------------------------------------------

    def _job_id(self, job: str, deadline: float | None) -> int:
        if job.isdigit():
            return int(job)
        if job not in self._job_ids:
            jobs = self._call("/fetchAllJob", f"look up job {job}", deadline=deadline) or []
            matches = sorted(int(j["id"]) for j in jobs if isinstance(j, Mapping) and j.get("jobName") == job)
            if not matches:
                raise RejectedError(
                    f"PowerJob app {self.app_name} has no job named {job!r}",
                    hint="use the job's numeric id or its exact name (PowerJob console: Job Manager)",
                )
            if len(matches) > 1:
                raise RejectedError(
                    f"PowerJob app {self.app_name} has {len(matches)} jobs named {job!r} (ids {matches})",
                    hint="name the job by its numeric id",
                )
            self._job_ids[job] = matches[0]
        return self._job_ids[job]

    def _instance_params(self, request: TriggerRequest) -> str:
        params: dict[str, Any] = dict(request.params)
        if self.metadata_key:
            provenance = {k.removeprefix("ci."): v for k, v in request.provenance.items()}
            params[self.metadata_key] = {"idempotencyKey": request.idempotency_key, **provenance}
        return json.dumps(params, ensure_ascii=False, separators=(",", ":"))

    def _delay_ms(self, request: TriggerRequest) -> int:
        if request.start_at is None:
            return 0
        return max(0, int((request.start_at - self.clock.now()).total_seconds() * 1000))

    # -- the interface ----------------------------------------------------------------------------

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        form = {
            "appId": f"(the id of app {self.app_name}, from the login)",
            "jobId": request.job if request.job.isdigit() else f"(the id of job {request.job})",
            "instanceParams": self._instance_params(request),
            "delay": str(self._delay_ms(request)),
        }
        headers = {"Content-Type": "application/x-www-form-urlencoded", APP_HEADER: form["appId"], TOKEN_HEADER: MASK}
        return PreparedRequest("POST", f"{self.base}/runJob", headers, form)

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        job_id = self._job_id(request.job, deadline)
        form = {"jobId": job_id, "instanceParams": self._instance_params(request), "delay": self._delay_ms(request)}
        # runJob has no de-duplication: a lost answer must not be resent, or the job would run twice.
        instance_id = self._call("/runJob", f"run job {request.job}", form=form, deadline=deadline, idempotent=False)
        if instance_id is None:
            raise PlatformError(f"run job {request.job}: /openApi/runJob answered success without an instance id")
        return TriggerOutcome(run=RunRef(run_id=str(instance_id), extra={"jobId": job_id}))

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        value = self._call(
            "/fetchInstanceStatus", f"status of instance {run.run_id}", form={"instanceId": run.run_id},
            deadline=deadline,
        )  # fmt: skip
        if not isinstance(value, int):
            raise PlatformError(f"status of instance {run.run_id}: expected a state number, got {value!r}")
        return self._status_of(run, value)

    def _status_of(self, run: RunRef, value: int) -> RunStatus:
        word, state = STATES.get(value, (str(value), RunState.RUNNING))
        self._last_status[run.run_id] = state
        return RunStatus(state=state, raw=word, url=run.url)

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        """One page of /openApi/queryInstance over the id range of the runs (InstancePageQuery has no id list);
        the lowest 100 of the app's instances in that range, so a run above them is left to `status`. A server
        before 5.1.1 cannot query: this plug-in reads one instance at a time from then on."""
        wanted = {run.run_id: run for run in runs if run.run_id.isdigit()}
        if not wanted:
            return {}
        ids = sorted(int(run_id) for run_id in wanted)
        query = {"instanceIdGt": ids[0] - 1, "instanceIdLt": ids[-1] + 1}
        try:
            page = self._query_page(query, 0, BATCH_PAGE, f"statuses of {len(ids)} instances", deadline)
        except _NoQuery:
            self.batch_status_limit = 0
            return {}
        found: dict[str, RunStatus] = {}
        for item in page.get("data") or [] if isinstance(page, Mapping) else []:
            run = wanted.get(str(item.get("instanceId"))) if isinstance(item, Mapping) else None
            if run is not None and isinstance(item.get("status"), int):
                found[run.run_id] = self._status_of(run, item["status"])
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median finishedTime - actualTriggerTime of the job's last SUCCEED instances: queryInstance within
        the lookup window (5.1.1+), else the console's newest-modified list (4.x, times to the second)."""
        job_id = self._job_id(job, deadline)
        since = int((self.clock.now().timestamp() - self.lookup_window) * 1000)
        try:
            items = self._query_instances({"jobIdEq": job_id, "statusIn": [5], "gmtModifiedGt": since}, deadline)
        except _NoQuery:
            listed = self._console_list(job_id, "SUCCEED", RECENT_RUNS, deadline)
            # Formatted in the server's zone (OmsConstant.TIME_PATTERN, "N/A" when unset): their difference holds.
            return median_duration(local_seconds(i.get("actualTriggerTime"), i.get("finishedTime")) for i in listed)
        newest = sorted(items, key=lambda item: int(item.get("finishedTime") or 0), reverse=True)
        return median_duration(
            epoch_seconds(item.get("actualTriggerTime"), item.get("finishedTime"), 1000.0) for item in newest
        )

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        if self.adopt is False:
            return None
        job_id = self._job_id(request.job, deadline)
        since = int((self.clock.now().timestamp() - self.lookup_window) * 1000)
        try:
            items = self._query_instances({"jobIdEq": job_id, "gmtCreateGt": since}, deadline)
        except _NoQuery as exc:
            try:
                items = self._console_recent(job_id, since, deadline)
            except PlatformError as err:
                reason = f"{exc.message}; {err.message}"
                if self.adopt is True:
                    raise RejectedError(reason, hint="set options.adopt: auto (or false) on this server") from None
                self._warn_no_adoption(reason)
                return None
        found = [item for item in items if self._marker(item) == request.idempotency_key]
        if not found:
            return None
        newest = max(found, key=lambda item: int(item["instanceId"]))
        return RunRef(run_id=str(newest["instanceId"]), extra={"jobId": job_id})

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        job_id = self._job_id(job, deadline)
        try:
            items = self._query_instances({"jobIdEq": job_id, "statusIn": ACTIVE_STATES}, deadline)
        except _NoQuery as exc:
            try:
                items = [i for word in ACTIVE_WORDS for i in self._console_list(job_id, word, _PAGE_SIZE, deadline)]
            except PlatformError as err:
                hint = "drop the concurrency policy of this trigger, or upgrade PowerJob to 5.1.1+"
                message = f"concurrency policies need to list instances: {exc.message}; {err.message}"
                raise RejectedError(message, hint=hint) from None
        return [RunRef(run_id=str(item["instanceId"]), extra={"jobId": job_id}) for item in items]

    def cancel(self, run: RunRef) -> None:
        status = self.status(run, None)
        if status.state.terminal:
            return
        form = {"instanceId": run.run_id}
        if status.raw == "WAITING_DISPATCH":
            # A delayed instance still in the server's time wheel is cancelled; once dispatched, stopped.
            try:
                self._call("/cancelInstance", f"cancel instance {run.run_id}", form=form)
                return
            except RejectedError:
                pass
        try:
            self._call("/stopInstance", f"stop instance {run.run_id}", form=form)
        except RejectedError as exc:
            if "finished instance" not in exc.message:  # it ended meanwhile: nothing to stop
                raise

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        """Dispatch and result from the OpenAPI; on 4.x, whose console needs no login, the worker's log too."""
        position = cursor if isinstance(cursor, _LogCursor) else _LogCursor()
        last = self._last_status.get(run.run_id)
        if "dispatched" in position.shown and last is not None and not last.terminal:
            # Nothing of the instance's details changes until it ends: only the worker's new lines.
            text, position = self._worker_log(run, position, wait_s=None)
            return LogChunk(text, position)
        info = self._call("/fetchInstanceInfo", f"details of instance {run.run_id}", form={"instanceId": run.run_id})
        if not isinstance(info, Mapping):
            return LogChunk("", position)
        lines: list[str] = []
        shown = position.shown
        if "dispatched" not in shown and info.get("actualTriggerTime"):
            worker = info.get("taskTrackerAddress") or "a worker"
            lines.append(f"instance {run.run_id} dispatched to {worker} at {_iso(info['actualTriggerTime'])}\n")
            shown += ("dispatched",)
        word, state = STATES.get(int(info.get("status") or 0), ("?", RunState.RUNNING))
        ending = state.terminal and "finished" not in shown
        late = ending and "dispatched" in shown and _may_have_late_lines(info, position.lines)
        wait_s = LATE_LOGS_S if late else 0.0 if ending else None
        text, position = self._worker_log(run, replace(position, shown=shown), wait_s=wait_s)
        lines.append(text)
        if ending:
            when = _iso(info["finishedTime"]) if info.get("finishedTime") else "?"
            lines.append(f"instance {run.run_id} {word} at {when}; result: {info.get('result') or '(none)'}\n")
            position = replace(position, shown=(*position.shown, "finished"))
        return LogChunk("".join(lines), position, complete="finished" in position.shown)

    def _worker_log(self, run: RunRef, position: _LogCursor, wait_s: float | None) -> tuple[str, _LogCursor]:
        """New lines of the console's /instance/log (4.x). `wait_s`: None while the instance runs (at most one
        read per worker report); else it just ended, and up to `wait_s` is spent on lines still on their way."""
        if not position.worker_log or (self._session is not None and self._session.token is not None):
            return "", position
        now = self.clock.monotonic()
        if wait_s is None and now - self._log_read_at.get(run.run_id, -WORKER_REPORT_S) < WORKER_REPORT_S:
            return "", position  # nothing new can have arrived since the last read
        self._log_read_at[run.run_id] = now
        text, count = "", position.lines
        until = now + (wait_s or 0.0)
        for _ in range(int(LATE_LOGS_S / LATE_LOGS_POLL_S) + 1):
            try:
                more, count = self._read_worker_log(run, count)
            except PlatformError:
                return text, replace(position, lines=count, worker_log=False)  # e.g. a console behind a login
            text += more
            left = until - self.clock.monotonic()
            if text or left <= 0 or self.clock.sleep(min(LATE_LOGS_POLL_S, left)):
                break
        return text, replace(position, lines=count)

    def _read_worker_log(self, run: RunRef, skip: int) -> tuple[str, int]:
        """Lines after the first `skip` (pages of 100 lines: InstanceLogService.MAX_LINE_COUNT), bounded."""
        session = self._login(None)
        index, offset, lines = skip // _LOG_PAGE_LINES, skip % _LOG_PAGE_LINES, []
        for _ in range(_LOG_PAGES_PER_CALL):
            params = {"appId": session.app_id, "instanceId": run.run_id, "index": index}
            what = f"log of instance {run.run_id}"
            response = self.http.request(
                "GET", f"{self.root}/instance/log", params=params, what=what, raise_for_status=False
            )
            page = self._data(response, what)
            text = str(page.get("data") or "") if isinstance(page, Mapping) else ""
            if not isinstance(page, Mapping) or text.startswith(_LOG_PLACEHOLDERS):
                break
            lines += text.splitlines()[offset:]
            offset, index = 0, index + 1
            if index >= int(page.get("totalPages") or 0):
                break
        return "".join(f"{line}\n" for line in lines), skip + len(lines)

    # -- helpers ----------------------------------------------------------------------------------

    def _query_instances(self, query: dict[str, Any], deadline: float | None) -> list[Mapping[str, Any]]:
        """All pages of /openApi/queryInstance (InstancePageQuery, 5.1.1+), bounded."""
        items: list[Mapping[str, Any]] = []
        for index in range(_MAX_PAGES):
            page = self._query_page(query, index, _PAGE_SIZE, "look up instances", deadline)
            if not isinstance(page, Mapping):
                break
            items += [i for i in page.get("data") or [] if isinstance(i, Mapping) and "instanceId" in i]
            if index + 1 >= int(page.get("totalPages") or 0):
                break
        return items

    def _query_page(self, query: dict[str, Any], index: int, size: int, what: str, deadline: float | None) -> Any:
        """One page of /openApi/queryInstance, of this app's instances in id order."""
        session = self._login(deadline)
        body = {**query, "appIdEq": session.app_id, "index": index, "pageSize": size, "sortBy": "id"}
        try:
            return self._call("/queryInstance", what, body=body, deadline=deadline)
        except RejectedError as exc:
            if "PowerQuery" in exc.message:  # before 5.1.1 the endpoint cannot read any query (issue 1034)
                raise _NoQuery(
                    "this PowerJob server cannot look up instances: /openApi/queryInstance works from PowerJob 5.1.1 on"
                ) from None
            raise

    def _console_list(self, job_id: int, status: str | None, size: int, deadline: float | None) -> list[Any]:
        """The newest-modified instances of a job from the console's /instance/list: open (no login) on 4.x only."""
        session = self._login(deadline)
        if session.token is not None:
            raise PlatformError("the console's instance list needs a user login on PowerJob 5.x")
        body = {"appId": session.app_id, "jobId": job_id, "index": 0, "pageSize": size, "type": "NORMAL"}
        if status:
            body["status"] = status
        what = "list instances (console /instance/list)"
        response = self.http.request(
            "POST", f"{self.root}/instance/list", json=body, what=what, deadline=deadline, raise_for_status=False
        )
        page = self._data(response, what)
        items = page.get("data") if isinstance(page, Mapping) else None
        return [i for i in items or [] if isinstance(i, Mapping) and "instanceId" in i]

    def _console_recent(self, job_id: int, since: int, deadline: float | None) -> list[Mapping[str, Any]]:
        """4.x: the job's most recently modified instances with their params (the list has none), within the window."""
        found: list[Mapping[str, Any]] = []
        for item in self._console_list(job_id, None, _CONSOLE_SCAN, deadline):
            info = self._call(
                "/fetchInstanceInfo", "look up an instance", form={"instanceId": item["instanceId"]}, deadline=deadline
            )
            if isinstance(info, Mapping) and int(info.get("expectedTriggerTime") or 0) >= since:
                found.append(info)
        return found

    def _warn_no_adoption(self, reason: str) -> None:
        if not self._warned:
            self._warned = True
            self.config.warn(
                f"{reason}, so a re-run of this CI job starts a new instance "
                "instead of adopting the one it started before (options.adopt: false silences this)"
            )

    def _marker(self, item: Mapping[str, Any]) -> str | None:
        try:
            params = json.loads(item.get("instanceParams") or "")
        except ValueError:
            return None
        meta = params.get(self.metadata_key) if isinstance(params, dict) and self.metadata_key else None
        return str(meta.get("idempotencyKey")) if isinstance(meta, dict) else None


class _NoQuery(RejectedError):
    """The server predates 5.1.1: its /openApi/queryInstance cannot read any query."""


def _failure(what: str, message: str, code: str, login: bool) -> PlatformError:
    """A `success: false` answer as the project's error: credentials → 3, what the server refused → 4."""
    shown = REDACTOR.redact(message.splitlines()[0] if message else "(no message)")[:300]
    if code in _AUTH_CODES or any(word in message for word in _AUTH_WORDS):
        return AuthError(
            f"{what}: PowerJob rejected the credentials: {shown}",
            hint="check the app name (options.app) and the app password in the token or password variable",
        )
    if "INVALID_APP" in message:
        return RejectedError(f"{what}: PowerJob has no such app: {shown}", hint="check options.app")
    if code == "-500":
        return PlatformError(f"{what}: PowerJob failed: {shown}", hint="see the powerjob-server log")
    hint = "check the job id or name, and that the job belongs to this app" if not login else None
    return RejectedError(f"{what}: PowerJob refused: {shown}", hint=hint)


def _may_have_late_lines(info: Mapping[str, Any], lines_seen: int) -> bool:
    """Whether the worker may still report log lines: it logged before, or ran too briefly to have reported."""
    ran_s = (int(info.get("finishedTime") or 0) - int(info.get("actualTriggerTime") or 0)) / 1000
    return lines_seen > 0 or ran_s < QUIET_RUN_S


def _iso(millis: Any) -> str:
    return datetime.fromtimestamp(int(millis) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
