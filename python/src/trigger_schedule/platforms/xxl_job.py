"""XXL-JOB admin (2.x to 3.1 with `api-version: 2`, 3.2 to 3.3.x with `api-version: 3`).

Follows xuxueli/xxl-job, tags 2.4.2, 3.2.0 and 3.3.0: JobInfoController (`/jobinfo/trigger`), JobLogController
(`/joblog/pageList`, `/joblog/logDetailCat`, `/joblog/logKill`), IndexController + LoginService (2.x
`/login`, cookie XXL_JOB_LOGIN_IDENTITY), LoginController (3.2 and 3.3 `/auth/doLogin`, xxl-sso cookie
xxl_job_login_token). Answers are ReturnT `{code, msg, content}` up to 3.2 and xxl-tool Response
`{code, msg, data}` from 3.3, whose pageList is paged by offset/pagesize instead of start/length and wraps
the list in `data: {data, total}`: the plug-in sends both paging pairs (each admin ignores the other's) and
reads each answer by its shape, so one `api-version: 3` serves 3.2 and 3.3. The admin's context path
(`/xxl-job-admin` by default up to 3.4.0) is part of the platform url.

The trigger answers no log id, so the run is found afterwards among the job's newest logs by a marker
carried in `executorParam`; two matches are reported, never guessed between.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests

from trigger_schedule.backoff import Backoff
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
    iso_seconds,
    local_seconds,
    median_duration,
)
from trigger_schedule.retrying import Retrying, stop_until, wait_backoff
from trigger_schedule.secrets import MASK, REDACTOR

SUCCESS = 200  # ReturnT.SUCCESS_CODE, also XxlJobContext.HANDLE_CODE_SUCCESS
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
# Which login each admin generation has, and the cookie it sets.
LOGINS: dict[int, tuple[str, str]] = {
    2: ("login", "XXL_JOB_LOGIN_IDENTITY"),
    3: ("auth/doLogin", "xxl_job_login_token"),
}
HANDLE_STATES: dict[int, tuple[RunState, str]] = {
    0: (RunState.RUNNING, "running"),
    SUCCESS: (RunState.SUCCEEDED, "success"),
    500: (RunState.FAILED, "failed"),
    502: (RunState.FAILED, "timed out"),
}
# joblog_kill_log_byman in the admin's i18n (en, zh_CN, zh_TC): logKill's handleMsg prefix.
KILLED_BY_HAND = ("Manual operation, kill job", "人为操作\uff0c主动终止", "人為操作\uff0c主動終止")
# ExecutorBizImpl.kill: the reason a JobThread's runs are stopped with when another log of the job is killed,
# and its answer when the job has no thread (nothing ran or it idled out); the admin answers 200 for both.
KILL_REASON = "scheduling center kill job."
THREAD_GONE = "job thread already killed."
MAX_PARAM = 512  # tables_xxl_job.sql: xxl_job_log.executor_param varchar(512)
LOG_STATUS_RUNNING = 3  # pageList: trigger_code = 200 AND handle_code = 0
LOG_STATUS_SUCCESS = 1  # pageList: handle_code = 200
# Logs of one job read by one status_many: the log list is per job (3.3 refuses jobId 0), so a batch answers for
# the runs of its most common job from that job's newest logs.
BATCH_PAGE = 100


class XxlJobPlatform(Platform):
    type_name = "xxl-job"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "key marker in `executorParam`",
        "waits": "polling",
        "logs": "`logDetailCat`",
        "cancel": (
            "`logKill`, guarded (never a finished run; refused when other runs share the task's executor "
            "thread unless `kill-shared`)"
        ),
        "defers": "no",
        "concurrency": "yes",
        "batch": "the runs of one job per call (its newest 100 logs)",
    }
    batch_status_limit = BATCH_PAGE
    can_list_active = True
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "api-version": {
                "default": 2,
                "enum": [2, 3],
                "description": "Admin generation: 2 for 2.x to 3.1 (POST /login, cookie XXL_JOB_LOGIN_IDENTITY), "
                "3 for 3.2 to 3.3.x (POST /auth/doLogin, cookie xxl_job_login_token; 3.3's Response answers are "
                "told from 3.2's ReturnT by their shape). Default 2.",
            },
            "job-group": {
                "default": 0,
                "type": "integer",
                "minimum": 0,
                "description": "Executor group id of the job (`jobGroup` of the log list; a non-admin user "
                "must name a group it has permission for). Default 0.",
            },
            "address-list": {
                "default": "",
                "type": "string",
                "description": "Executor addresses to run on (`addressList`, comma-separated); empty: the "
                "job's own routing. Default empty.",
            },
            "marker-key": {
                "default": "_trigger_schedule",
                "type": "string",
                "pattern": "^[A-Za-z0-9_.-]+$",
                "description": "Key of the executorParam JSON that carries the idempotency key and CI "
                "provenance; the run is recognised by it (default _trigger_schedule).",
            },
            "find-max": {
                "default": 50,
                "type": "integer",
                "minimum": 1,
                "maximum": 1000,
                "description": "How many of the job's newest logs are searched for the run (default 50).",
            },
            "provenance": {
                "default": True,
                "type": "boolean",
                "description": "Carry the CI provenance (repository, sha, ref, pipeline URL, actor) in the "
                "marker (default true); dropped by itself when executorParam would exceed 512 characters.",
            },
            "kill-shared": {
                "default": False,
                "type": "boolean",
                "description": "Cancel a run even when other runs of the job run or wait on the same executor: "
                "XXL-JOB kills the job's thread there, which stops them all (default false: such a cancel is "
                "refused; set true with concurrency: cancel-previous).",
            },
            "find-timeout": {
                "default": 30,
                "type": "number",
                "minimum": 1,
                "description": "Seconds to wait for the triggered run's log to appear (default 30).",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cookie: str | None = None
        self._durations = DurationCache(self.type_name, self.http)
        if self.config.auth_type not in ("basic", "none"):
            raise ConfigError(
                f"platform {self.config.name}: XXL-JOB's admin logs in with a username and password",
                hint="use auth: {type: basic, username-env: ..., password-env: ...}",
            )

    # -- session ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.config.url.rstrip('/')}/{path}"

    def _login(self, deadline: float | None) -> str | None:
        if self.config.auth_type == "none":
            return None
        if self._cookie is not None:
            return self._cookie
        if not self.config.username or not self.config.password:
            raise ConfigError(
                f"platform {self.config.name}: no username or password for the XXL-JOB login",
                hint="set the env vars named by auth.username-env and auth.password-env",
            )
        path, cookie_name = LOGINS[int(self.opts["api-version"])]
        what = f"log in to XXL-JOB as {self.config.username}"
        response = self.http.request(
            "POST",
            self._url(path),
            data={"userName": self.config.username, "password": self.config.password},
            headers=FORM,
            what=what,
            deadline=deadline,
            raise_for_status=False,
            secret_response=True,
        )
        if response.status_code == 404:
            raise ConfigError(
                f"{what}: {response.url} does not exist (HTTP 404)",
                hint="check the url includes the admin's context path (e.g. /xxl-job-admin) and api-version",
            )
        envelope = _envelope(response, what)
        token = response.cookies.get(cookie_name)
        if envelope.get("code") != SUCCESS or not token:
            raise AuthError(
                f"{what}: the login was refused: {envelope.get('msg') or 'no cookie ' + cookie_name}",
                hint="check the username and password, and api-version (2: /login, 3: /auth/doLogin)",
                status_code=response.status_code,
            )
        REDACTOR.add(token)
        self._cookie = f"{cookie_name}={token}"
        return self._cookie

    def _post(self, path: str, form: Mapping[str, Any], what: str, deadline: float | None = None) -> Any:
        """POST a form with the login cookie; an expired session logs in again once."""
        try:
            return self._post_once(path, form, what, deadline)
        except _NotLoggedIn as exc:
            if self._cookie is None:
                raise exc.error from None
            # The admin forgot the session (restart, timeout): the request was not processed.
            self._cookie = None
            try:
                return self._post_once(path, form, what, deadline)
            except _NotLoggedIn as again:
                raise again.error from None

    def _post_once(self, path: str, form: Mapping[str, Any], what: str, deadline: float | None) -> Any:
        headers = dict(FORM)
        cookie = self._login(deadline)
        if cookie:
            headers["Cookie"] = cookie
        response = self.http.request(
            "POST", self._url(path), data=dict(form), headers=headers, what=what, deadline=deadline,
            idempotent=path != "jobinfo/trigger", raise_for_status=False,
        )  # fmt: skip
        if response.is_redirect or response.status_code in (401, 403):
            # 2.x PermissionInterceptor: 302 to /toLogin.
            raise _NotLoggedIn(
                AuthError(
                    f"{what}: XXL-JOB sent the request to its login page (HTTP {response.status_code})",
                    hint="the login cookie was not accepted: check api-version matches the admin",
                    status_code=response.status_code,
                )
            )
        if response.status_code == 400:
            raise RejectedError(f"{what}: XXL-JOB rejected the request (HTTP 400): {response.text[:300]}")
        raise_for_response(response, what)
        document = _json(response, what)
        if isinstance(document, dict) and document.get("code") != SUCCESS and _not_login(document.get("msg")):
            # 3.2 xxl-sso: XxlSsoException("not login.") rendered as {code: 500, msg} with HTTP 200.
            raise _NotLoggedIn(
                AuthError(f"{what}: XXL-JOB says {document.get('msg')}", hint="check api-version matches the admin")
            )
        return document

    # -- the request ---------------------------------------------------------------------------

    def _job_id(self, job: str) -> int:
        try:
            return int(job)
        except ValueError:
            raise ConfigError(
                f"XXL-JOB job {job!r} is not a numeric job id",
                hint="set job: to the task's ID shown in the admin's task list",
            ) from None

    def executor_param(self, request: TriggerRequest) -> str:
        """The params as a JSON object plus the marker; within the log table's varchar(512)."""
        marker: dict[str, Any] = {"key": request.idempotency_key}
        if request.provenance and self.opts["provenance"]:
            marker["ci"] = dict(request.provenance)
        params = {str(k): v for k, v in request.params.items()}
        text = _dump({**params, self.opts["marker-key"]: marker})
        if len(text) > MAX_PARAM and "ci" in marker:
            # The key alone finds the run; provenance is the part that can go.
            text = _dump({**params, self.opts["marker-key"]: {"key": request.idempotency_key}})
            if len(text) <= MAX_PARAM:
                self.config.warn(
                    f"job {request.job}: the CI provenance is left out of executorParam to stay within "
                    f"{MAX_PARAM} characters; shorten the params to keep it, or set provenance: false"
                )
        if len(text) > MAX_PARAM:
            raise ConfigError(
                f"XXL-JOB job {request.job}: executorParam would be {len(text)} characters; the admin stores "
                f"at most {MAX_PARAM} (xxl_job_log.executor_param) and would lose the run",
                hint="pass fewer or shorter params (e.g. a reference the job looks up)",
            )
        return text

    def _trigger_form(self, request: TriggerRequest) -> dict[str, Any]:
        return {
            "id": self._job_id(request.job),
            "executorParam": self.executor_param(request),
            "addressList": self.opts["address-list"],
        }

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        headers = {**FORM, "Cookie": MASK}
        return PreparedRequest("POST", self._url("jobinfo/trigger"), headers, self._trigger_form(request))

    # -- the interface ------------------------------------------------------------------------

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        what = f"trigger XXL-JOB job {request.job}"
        form = self._trigger_form(request)
        # Logs older than now cannot be ours: note the newest id before triggering.
        floor = max((int(log.get("id", 0)) for log in self._logs(request.job, what, deadline)), default=0)
        envelope = self._post("jobinfo/trigger", form, what, deadline)
        if not isinstance(envelope, dict) or envelope.get("code") != SUCCESS:
            msg = envelope.get("msg") if isinstance(envelope, dict) else envelope
            raise RejectedError(
                f"{what}: XXL-JOB refused it: {msg}",
                hint="check job: is the task's numeric ID and the user may run it",
            )
        return TriggerOutcome(run=self._await_log(request, floor, deadline))

    def _await_log(self, request: TriggerRequest, floor: int, deadline: float | None) -> RunRef:
        what = f"find the log of XXL-JOB job {request.job}"
        limit = self.clock.monotonic() + float(self.opts["find-timeout"])
        for _ in Retrying(
            stop=stop_until(limit, self.clock) | stop_until(deadline, self.clock),
            wait=wait_backoff(Backoff(initial=0.2, cap=1.0, factor=1.5, jitter=False)),
            clock=self.clock,
        ):
            found = self._find(request, what, deadline, floor)
            if found is not None:
                return found
        raise PlatformError(
            f"{what}: no log carrying this trigger's marker appeared within "
            f"{self.opts['find-timeout']} s (the trigger was sent)",
            hint="check the admin's trigger pool is running; raise find-timeout or find-max",
        )

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        return self._find(request, f"look up earlier runs of XXL-JOB job {request.job}", deadline, 0)

    def _find(self, request: TriggerRequest, what: str, deadline: float | None, floor: int) -> RunRef | None:
        logs = self._logs(request.job, what, deadline)
        ours = [log for log in logs if int(log.get("id", 0)) > floor and self._carries(log, request)]
        if len(ours) > 1:
            ids = ", ".join(str(log.get("id")) for log in ours)
            raise PlatformError(
                f"{what}: logs {ids} all carry this trigger's marker; refusing to guess which is ours",
                hint="another trigger with the same CI context ran at once: check those runs, or use --force-new",
            )
        return self._run_ref(ours[0]) if ours else None

    def _carries(self, log: Mapping[str, Any], request: TriggerRequest) -> bool:
        param = str(log.get("executorParam") or "")
        try:
            document = json.loads(param)
        except ValueError:
            document = None
        if isinstance(document, dict):
            marker = document.get(self.opts["marker-key"])
            return isinstance(marker, dict) and marker.get("key") == request.idempotency_key
        return False

    def _logs(
        self, job: str, what: str, deadline: float | None, status: int = 0, size: int | None = None
    ) -> list[dict[str, Any]]:
        size = size or int(self.opts["find-max"])
        form = {
            "jobGroup": self.opts["job-group"],
            "jobId": self._job_id(job),
            "logStatus": status,
            "filterTime": "",  # the server's own time zone is unknown: search by newest instead
            # Up to 3.2 the page is start/length, from 3.3 offset/pagesize; Spring ignores the pair it lacks.
            "start": 0,
            "length": size,
            "offset": 0,
            "pagesize": size,
        }
        return page_rows(self._post("joblog/pageList", form, what, deadline), what)

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        logs = self._logs(job, f"list running logs of XXL-JOB job {job}", deadline, LOG_STATUS_RUNNING)
        return [self._run_ref(log) for log in logs]

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        what = f"status of XXL-JOB log {run.run_id}"
        job = str(run.extra.get("job") or _job_of(run.run_id))
        log = next((x for x in self._logs(job, what, deadline) if str(x.get("id")) == _log_id(run.run_id)), None)
        if log is None:
            raise PlatformError(
                f"{what}: not among the job's newest {self.opts['find-max']} logs",
                hint="raise find-max, or check the log was not cleared",
            )
        return state_of(log, run.url)

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        """The runs of the batch's most common job, from one page of that job's newest logs; the others (and a
        run not on the page) are left to `status`."""
        jobs = Counter(str(run.extra.get("job") or _job_of(run.run_id)) for run in runs)
        if not jobs:
            return {}
        job = jobs.most_common(1)[0][0]
        wanted = {_log_id(run.run_id): run for run in runs if str(run.extra.get("job") or _job_of(run.run_id)) == job}
        logs = self._logs(job, f"statuses of {len(wanted)} logs of XXL-JOB job {job}", deadline, size=BATCH_PAGE)
        found: dict[str, RunStatus] = {}
        for log in logs:
            run = wanted.get(str(log.get("id")))
            if run is not None:
                found[run.run_id] = state_of(log, run.url)
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median handleTime - triggerTime of the job's last successful logs (newest first)."""
        what = f"recent successful logs of XXL-JOB job {job}"
        logs = self._logs(job, what, deadline, LOG_STATUS_SUCCESS, size=RECENT_RUNS)
        return median_duration(_log_seconds(log) for log in logs)

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        from_line = int(cursor) if cursor else 1
        what = f"log of XXL-JOB log {run.run_id}"
        envelope = self._post("joblog/logDetailCat", {"logId": _log_id(run.run_id), "fromLineNum": from_line}, what)
        envelope = envelope if isinstance(envelope, dict) else {}
        content = payload(envelope)
        if envelope.get("code") != SUCCESS or not isinstance(content, dict):
            return LogChunk("", from_line)  # the executor may not have the file yet: try later
        to_line = int(content.get("toLineNum") or 0)
        # to_line < from_line: nothing new (3.3 answers 0 then; before the executor wrote, "logFile not exists").
        text = plain_log(str(content.get("logContent") or "")) if to_line >= from_line else ""
        return LogChunk(text, max(from_line, to_line + 1), complete=bool(content.get("end")))

    def cancel(self, run: RunRef) -> None:
        """logKill kills by task id on the log's executor and then writes the log as killed whatever it was, so
        the log is read right before: a finished run is left alone, and a kill that would also stop other runs
        of the task on that executor is refused unless kill-shared. What is left is the time of one request."""
        what = f"kill XXL-JOB log {run.run_id}"
        job, log_id = str(run.extra.get("job") or _job_of(run.run_id)), _log_id(run.run_id)
        logs = self._logs(job, what, None)
        log = next((x for x in logs if str(x.get("id")) == log_id), None)
        if log is None:
            raise PlatformError(
                f"{what}: not among the job's newest {self.opts['find-max']} logs", hint="raise find-max"
            )
        if state_of(log, run.url).state.terminal:
            return  # it ended: a kill now would only rewrite its result as killed
        if int(log.get("triggerCode") or 0) != SUCCESS:
            raise PlatformError(
                f"{what}: the admin has not dispatched it to an executor yet, and refuses to kill it before",
                hint="kill it from the admin's log page once it runs",
            )
        self._refuse_shared_kill(what, log, logs)
        envelope = self._post("joblog/logKill", {"id": log_id}, what)
        if not isinstance(envelope, dict) or envelope.get("code") != SUCCESS:
            msg = envelope.get("msg") if isinstance(envelope, dict) else envelope
            raise PlatformError(f"{what}: XXL-JOB could not kill it: {msg or 'no reason given'}")
        if payload(envelope) == THREAD_GONE:
            self.config.warn(
                f"{what}: the executor had no thread for job {job} any more (the run ended as the kill was sent); "
                "the admin now records the run as killed"
            )

    def _refuse_shared_kill(self, what: str, log: Mapping[str, Any], logs: list[dict[str, Any]]) -> None:
        address = log.get("executorAddress")
        # Dispatched to the same executor and not handled yet: running in the task's thread, or queued behind.
        shared = [
            str(x.get("id"))
            for x in logs
            if x is not log and x.get("executorAddress") == address
            and int(x.get("triggerCode") or 0) == SUCCESS and int(x.get("handleCode") or 0) == 0
        ]  # fmt: skip
        if shared and not self.opts["kill-shared"]:
            raise PlatformError(
                f"{what}: not killed: XXL-JOB kills a task's whole thread on the executor, and logs "
                f"{', '.join(shared)} of job {log.get('jobId')} also run or wait on {address}: the kill would stop "
                "them too",
                hint="let it finish, kill it from the admin's log page, or set kill-shared: true to stop them all",
            )

    def _run_ref(self, log: Mapping[str, Any]) -> RunRef:
        job = str(log.get("jobId"))
        log_id = str(log.get("id"))
        url = self._url(f"joblog/logDetailPage?id={log_id}")
        # The job id rides in the run id: the log list is per job, and a resumed wait has no `extra`.
        return RunRef(run_id=f"{job}:{log_id}", url=url, extra={"job": job})


class _NotLoggedIn(Exception):
    def __init__(self, error: AuthError) -> None:
        super().__init__(str(error))
        self.error = error


def _not_login(msg: Any) -> bool:
    return isinstance(msg, str) and ("not login" in msg or "XxlSsoException" in msg)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# What JobLogController.filter (2.4.1 on) does to the log: HtmlUtils.htmlEscape(text, "UTF-8"), which for a UTF
# encoding escapes exactly these five, with <br>, <b> and </b> left as they are.
ESCAPED = re.compile(r"&(amp|lt|gt|quot|#39);")
UNESCAPE = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "#39": "'"}


def plain_log(content: str) -> str:
    """logDetailCat's logContent as plain lines: the JobThread's <br> markup breaks lines, <b> goes, the
    admin's HTML escaping is undone (in one pass, so an escaped "&amp;lt;" stays "&lt;")."""
    lines: list[str] = []
    for line in content.splitlines():
        for part in line.split("<br>"):
            part = part.replace("<b>", "").replace("</b>", "")
            lines.append(ESCAPED.sub(lambda m: UNESCAPE[m.group(1)], part).rstrip())
    return "".join(f"{line}\n" for line in lines)


def payload(envelope: Mapping[str, Any]) -> Any:
    """What an answer carries: ReturnT's `content` up to 3.2, Response's `data` from 3.3 (Jackson writes it null)."""
    return envelope["data"] if "data" in envelope else envelope.get("content")


def page_rows(document: Any, what: str) -> list[dict[str, Any]]:
    """The logs of a pageList answer: {recordsTotal, data: [log]} up to 3.2, {code, data: {data: [log]}} from 3.3."""
    document = document if isinstance(document, dict) else {}
    rows = document.get("data")
    if isinstance(rows, dict):
        rows = rows.get("data")
    elif "code" in document and document.get("code") != SUCCESS:
        # A refusal (3.3 Response.ofFail, or the exception resolver: no permission for job-group) carries a code.
        raise RejectedError(
            f"{what}: XXL-JOB refused the log list: {document.get('msg')}",
            hint="check job: and job-group, and that the user has permission for the job's executor group",
        )
    if not isinstance(rows, list):
        raise PlatformError(f"{what}: the log list has no `data`", hint="check the url is the XXL-JOB admin")
    return [log for log in rows if isinstance(log, dict)]


def state_of(log: Mapping[str, Any], url: str | None) -> RunStatus:
    trigger_code = int(log.get("triggerCode") or 0)
    handle_code = int(log.get("handleCode") or 0)
    if trigger_code not in (0, SUCCESS):
        return RunStatus(RunState.FAILED, f"dispatch failed (triggerCode {trigger_code})", url)
    if trigger_code == 0 and handle_code == 0:
        return RunStatus(RunState.RUNNING, "triggering", url)
    if handle_code == 500 and str(log.get("handleMsg") or "").startswith(KILLED_BY_HAND):
        return RunStatus(RunState.CANCELLED, "killed", url)
    if handle_code == 500 and str(log.get("handleMsg") or "").startswith(KILL_REASON):
        return RunStatus(RunState.CANCELLED, "killed with another run of the job on its executor", url)
    state, word = HANDLE_STATES.get(handle_code, (RunState.FAILED, f"handleCode {handle_code}"))
    return RunStatus(state, word, url)


def _log_seconds(log: Mapping[str, Any]) -> float | None:
    """handleTime - triggerTime: ISO-8601 as Spring Boot's Jackson writes a Date, or an admin's own
    `spring.jackson.date-format` of "yyyy-MM-dd HH:mm:ss"."""
    start, end = log.get("triggerTime"), log.get("handleTime")
    seconds = iso_seconds(start, end)
    return seconds if seconds is not None else local_seconds(start, end)


def _log_id(run_id: str) -> str:
    return run_id.rsplit(":", 1)[-1]


def _job_of(run_id: str) -> str:
    return run_id.split(":", 1)[0]


def _envelope(response: requests.Response, what: str) -> dict[str, Any]:
    document = _json(response, what)
    return document if isinstance(document, dict) else {}


def _json(response: requests.Response, what: str) -> Any:
    return json_body(
        response, what, hint="check the url is the XXL-JOB admin including its context path (e.g. /xxl-job-admin)"
    )
