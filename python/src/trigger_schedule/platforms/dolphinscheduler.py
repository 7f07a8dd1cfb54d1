"""Apache DolphinScheduler: start a workflow (process) definition and follow its instance.

API as in apache/dolphinscheduler, tags 3.2.1 / 3.2.2 (`ExecutorController`, `ProcessInstanceController`,
`LoggerController`) and the 3.3 line: dev before 3.3.0 and the released 3.4.2 / 3.4.3 sources
(`ExecutorController.start-workflow-instance`, `WorkflowInstanceController`). Every answer is HTTP 200
with `{code, msg, data, success, failed}`; `code` decides, not the HTTP status (only a bad token is a plain
HTTP 401).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests

from trigger_schedule.errors import AuthError, ConfigError, PlatformError, RejectedError, UnreachableError
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
from trigger_schedule.platforms.history import RECENT_RUNS, DurationCache, local_seconds, median_duration
from trigger_schedule.secrets import MASK

# WorkflowExecutionStatus.java: code -> name. The API serialises the name; codes are accepted too.
# 3.2 also has DELAY_EXECUTION, READY_BLOCK, BLOCK; 3.3 added FAILOVER; 3.4 dropped WAIT_TO_RUN.
STATE_CODES: dict[int, str] = {
    0: "SUBMITTED_SUCCESS",
    1: "RUNNING_EXECUTION",
    2: "READY_PAUSE",
    3: "PAUSE",
    4: "READY_STOP",
    5: "STOP",
    6: "FAILURE",
    7: "SUCCESS",
    12: "DELAY_EXECUTION",
    14: "SERIAL_WAIT",
    15: "READY_BLOCK",
    16: "BLOCK",
    17: "WAIT_TO_RUN",
    18: "FAILOVER",
}
# The project's newest instances read by one status_many: the instance list's page (PageInfo takes any size).
BATCH_PAGE = 100
STATES: dict[str, RunState] = {
    **dict.fromkeys(
        (
            "SUBMITTED_SUCCESS",
            "RUNNING_EXECUTION",
            "READY_PAUSE",
            "READY_STOP",
            "DELAY_EXECUTION",
            "SERIAL_WAIT",
            "READY_BLOCK",
            "WAIT_TO_RUN",
            "FAILOVER",
        ),
        RunState.RUNNING,
    ),
    "SUCCESS": RunState.SUCCEEDED,
    "FAILURE": RunState.FAILED,
    # 3.2: a blocking task held the workflow; isFinished() and no state of it resumes by itself.
    "BLOCK": RunState.FAILED,
    # A paused instance never resumes by itself: the wait would never end, so it counts as stopped.
    "STOP": RunState.CANCELLED,
    "PAUSE": RunState.CANCELLED,
}

# Status.java codes that mean "who you are / what you may do", not "what you asked for".
AUTH_CODES = frozenset({10043, 10148, 30001, 30002})
# Codes a status or log read may meet while the scheduler is busy (internal error, host not set yet).
TRANSIENT_CODES = frozenset({10000})


PROVENANCE_PARAMS = {
    "ci.repository": "TRIGGER_SCHEDULE_REPOSITORY",
    "ci.sha": "TRIGGER_SCHEDULE_SHA",
    "ci.pipeline_url": "TRIGGER_SCHEDULE_PIPELINE_URL",
    "ci.actor": "TRIGGER_SCHEDULE_ACTOR",
}

# A STOP refused because the instance cannot stop yet (SUBMITTED_SUCCESS, or 3.2's DELAY_EXECUTION, ...):
# 3.2's StopExecuteFunction throws, answered as the method's status 50015 (3.1 answered 50006);
# 3.3+'s StopWorkflowInstanceExecutorDelegate throws a ServiceException, answered as 10000 "... can not stop".
STOP_REFUSED_32 = frozenset({50015, 50006})
STOP_REFUSED_33 = frozenset({10000})
_STOP_ATTEMPTS = 20
# LoggerServiceImpl heads the first page (skipLineNum=0) with "[LOG-PATH]: <path>, [HOST]: <host>".
LOG_HEAD = "[LOG-PATH]: "
_JAVA_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MAX_LOG_PAGES = 20  # per task and call: a burst of output is read in bounded slices


class DolphinSchedulerPlatform(Platform):
    type_name = "dolphinscheduler"
    # How it adopts a re-run, waits, reads logs, cancels, defers a start and sees active runs (README table).
    capabilities: ClassVar[dict[str, str]] = {
        "adopts": "key start-parameter lookup",
        "waits": "polling",
        "logs": "per task instance",
        "cancel": "STOP",
        "defers": "no",
        "concurrency": "yes",
        "batch": "the project's instance list, 100 a call",
    }
    can_list_active = True
    batch_status_limit = BATCH_PAGE
    can_defer = False  # a manual start has no "run at"; only schedules (cron) do
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["project-code"],
        "properties": {
            "project-code": {
                "type": ["integer", "string"],
                "pattern": "^[0-9]+$",
                "description": "Code of the project that holds the workflow definitions (a number).",
            },
            "api-version": {
                "default": "3.3",
                "enum": ["3.2", "3.3"],
                "description": "3.2: start-process-instance + process-instances; 3.3: start-workflow-instance "
                "+ workflow-instances (3.3 and later).",
            },
            "failure-strategy": {
                "default": "END",
                "enum": ["END", "CONTINUE"],
                "description": "failureStrategy of the run.",
            },
            "warning-type": {
                "default": "NONE",
                "enum": ["NONE", "SUCCESS", "FAILURE", "ALL", "GLOBAL"],
                "description": "warningType: which outcomes alert (GLOBAL: 3.2 only).",
            },
            "warning-group-id": {"default": None, "type": "integer", "description": "warningGroupId (alert group)."},
            "worker-group": {
                "default": None,
                "type": "string",
                "description": "workerGroup (server default: default).",
            },
            "tenant-code": {"default": None, "type": "string", "description": "tenantCode (server default: default)."},
            "environment-code": {
                "default": None,
                "type": "integer",
                "description": "environmentCode (server default: -1).",
            },
            "priority": {
                "default": None,
                "enum": ["HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"],
                "description": "Instance priority (processInstancePriority / workflowInstancePriority).",
            },
            "dry-run": {
                "default": False,
                "type": "boolean",
                "description": "dryRun=1: the server runs no task (checks only).",
            },
            "correlation-param": {
                "default": "TRIGGER_SCHEDULE_KEY",
                "type": ["string", "null"],
                "description": "Start parameter carrying the idempotency key, so a CI re-run finds and adopts "
                "its run; null: never adopt.",
            },
            "provenance-params": {
                "default": True,
                "type": "boolean",
                "description": "Add TRIGGER_SCHEDULE_REPOSITORY/_SHA/_PIPELINE_URL/_ACTOR start parameters.",
            },
            "log-lines": {
                "default": 500,
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "Lines per log/detail request.",
            },
            "lookup-limit": {
                "default": 20,
                "type": "integer",
                "minimum": 1,
                "maximum": 200,
                "description": "Newest instances of the definition searched for the correlation marker.",
            },
        },
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        project = str(self.opts.get("project-code") or "")
        if not project.isdigit():
            raise ConfigError(
                f"platform {self.config.name}: options.project-code must be the project's numeric code",
                hint="copy it from the DolphinScheduler UI (Project > the code column) into options.project-code",
            )
        self.project = project
        self.v33 = str(self.opts["api-version"]) == "3.3"
        if self.v33 and self.opts["warning-type"] == "GLOBAL":
            # WarningType.GLOBAL is gone in 3.3: the server would refuse the start with 50014.
            raise ConfigError(
                f"platform {self.config.name}: options.warning-type GLOBAL exists only on DolphinScheduler 3.2",
                hint='use NONE, SUCCESS, FAILURE or ALL, or set options.api-version: "3.2" for a 3.2 server',
            )
        self.base = self.config.url.rstrip("/")
        # 3.2 answers a trigger code; the instance id it resolves to, once known.
        self._resolved: dict[str, str] = {}
        self._durations = DurationCache(self.type_name, self.http)

    # -- requests ---------------------------------------------------------------------------

    @property
    def _instances(self) -> str:
        kind = "workflow-instances" if self.v33 else "process-instances"
        return f"{self.base}/projects/{self.project}/{kind}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.config.auth_type != "none" and self.config.token:
            headers["token"] = self.config.token
        return headers

    def _call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        idempotent: bool = True,
    ) -> Any:
        """Send, then check the `code` envelope; the `data` of a successful answer."""
        response = self.http.request(
            method,
            url,
            what=what,
            data=dict(form) if form is not None else None,
            params=params,
            headers=self._headers(),
            deadline=deadline,
            idempotent=idempotent,
        )
        # A 10000 on a start is a refusal (3.3: "Cannot find the workflow"); elsewhere a passing server error.
        return _data(response, what, transient_ok=idempotent)

    def _start_form(self, request: TriggerRequest) -> dict[str, str]:
        job = str(request.job)
        if not job.isdigit():
            raise ConfigError(
                f"job {job!r}: DolphinScheduler starts a workflow by its numeric definition code",
                hint="set job: to the workflow definition code (a number), not its name",
            )
        form = {
            "workflowDefinitionCode" if self.v33 else "processDefinitionCode": job,
            "scheduleTime": "",  # required by the controller; empty for a plain start
            "failureStrategy": str(self.opts["failure-strategy"]),
            "warningType": str(self.opts["warning-type"]),
            "execType": "START_PROCESS",
            "startParams": json.dumps(self._start_params(request), ensure_ascii=False, separators=(",", ":")),
            "dryRun": "1" if self.opts["dry-run"] else "0",
        }
        optional = {
            "workerGroup": self.opts["worker-group"],
            "tenantCode": self.opts["tenant-code"],
            "environmentCode": self.opts["environment-code"],
            "warningGroupId": self.opts["warning-group-id"],
            "workflowInstancePriority" if self.v33 else "processInstancePriority": self.opts["priority"],
        }
        form.update({k: str(v) for k, v in optional.items() if v is not None})
        return form

    def _start_params(self, request: TriggerRequest) -> dict[str, str]:
        # startParams is read as Map<String, String>: scalars as text, structures as JSON.
        values = {str(k): _as_text(v) for k, v in request.params.items()}
        if self.opts["provenance-params"]:
            for key, name in PROVENANCE_PARAMS.items():
                if request.provenance.get(key):
                    values.setdefault(name, request.provenance[key])
        marker = self.opts["correlation-param"]
        if marker:
            values[str(marker)] = request.idempotency_key
        return values

    def _start_url(self) -> str:
        path = "start-workflow-instance" if self.v33 else "start-process-instance"
        return f"{self.base}/projects/{self.project}/executors/{path}"

    def _run(self, instance_id: str) -> RunRef:
        return RunRef(run_id=instance_id, url=self._ui_url(instance_id))

    def _ui_url(self, instance_id: str) -> str:
        # The web UI is served by the api-server under the same /dolphinscheduler context path.
        return f"{self.base}/ui/projects/{self.project}/workflow/instances/{instance_id}"

    # -- the interface ----------------------------------------------------------------------

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        headers = {k: (MASK if k == "token" else v) for k, v in self._headers().items()}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return PreparedRequest("POST", self._start_url(), headers, self._start_form(request))

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        form = self._start_form(request)
        # No idempotency key exists in this API: a lost answer must not start a second run.
        data = self._call(
            "POST", self._start_url(), f"start workflow {request.job}", form=form, deadline=deadline, idempotent=False
        )
        if self.v33:
            ids = data if isinstance(data, list) else [data]
            if not ids or ids[0] is None:
                raise PlatformError(f"start workflow {request.job}: the answer names no workflow instance")
            return TriggerOutcome(self._run(str(ids[0])))
        trigger_code = str(data)
        instance = self._resolve(trigger_code, deadline)
        if instance is None:
            # The master has not consumed the command yet: keep the trigger code, resolve it later.
            return TriggerOutcome(RunRef(run_id=f"trigger-{trigger_code}", extra={"triggerCode": trigger_code}))
        return TriggerOutcome(self._run(instance))

    def _resolve(
        self, trigger_code: str, deadline: float | None, attempts: int = 10, interruptible: bool = True
    ) -> str | None:
        """3.2: the process instance a trigger code created, once the master has made it."""
        if trigger_code in self._resolved:
            return self._resolved[trigger_code]
        for attempt in range(attempts):
            data = self._call(
                "GET",
                f"{self.base}/projects/{self.project}/process-instances/trigger",
                f"find the instance of trigger {trigger_code}",
                params={"triggerCode": trigger_code},
                deadline=deadline,
            )
            found = [item for item in data or [] if isinstance(item, dict) and item.get("id") is not None]
            if found:
                self._resolved[trigger_code] = str(found[0]["id"])
                return self._resolved[trigger_code]
            if attempt + 1 >= attempts:
                break
            pause = min(0.2 * (attempt + 1), 1.0)
            # A cancel runs after the stop signal: only other waits end early when it is set.
            if self.clock.sleep(pause, self.clock.cancellation.event if interruptible else None):
                return None
        return None

    def _instance_id(self, run: RunRef, deadline: float | None, attempts: int = 1) -> str | None:
        code = run.extra.get("triggerCode") if run.extra else None
        if code is None and run.run_id.startswith("trigger-"):
            code = run.run_id.removeprefix("trigger-")
        if code is None:
            return run.run_id
        return self._resolve(str(code), deadline, attempts=attempts, interruptible=attempts == 1)

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        instance = self._instance_id(run, deadline)
        if instance is None:
            return RunStatus(RunState.RUNNING, "COMMAND_QUEUED", run.url)
        data = self._call("GET", f"{self._instances}/{instance}", f"status of instance {instance}", deadline=deadline)
        status = self._status_of(instance, data)
        if status is None:
            raw = _state_name(data.get("state") if isinstance(data, dict) else None)
            raise PlatformError(
                f"instance {instance}: unknown state {raw!r}",
                hint="a newer DolphinScheduler may have added states; report it with the server version",
            )
        return status

    def _status_of(self, instance: str, data: Any) -> RunStatus | None:
        raw = _state_name(data.get("state") if isinstance(data, dict) else None)
        state = STATES.get(raw)
        return RunStatus(state, raw, self._ui_url(instance)) if state is not None else None

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        """The project's newest instances (the list has no id filter; the ones being waited for are the newest);
        a run not on that page, with an unknown state, or a 3.2 trigger code not yet resolved is left to `status`."""
        wanted: dict[str, RunRef] = {}
        for run in runs:
            code = (run.extra or {}).get("triggerCode")
            instance = self._resolved.get(str(code)) if code is not None else run.run_id
            if instance and instance.isdigit():
                wanted[instance] = run
        if not wanted:
            return {}
        params = {"pageNo": 1, "pageSize": BATCH_PAGE}
        what = f"statuses of {len(wanted)} instances"
        data = self._call("GET", self._instances, what, params=params, deadline=deadline)
        found: dict[str, RunStatus] = {}
        for item in (data.get("totalList") if isinstance(data, dict) else None) or []:
            instance = str(item.get("id")) if isinstance(item, dict) else ""
            status = self._status_of(instance, item) if instance in wanted else None
            if status is not None:
                found[wanted[instance].run_id] = status
        return found

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        return self._durations.get(job, lambda: self._recent_duration(job, deadline))

    def _recent_duration(self, job: str, deadline: float | None) -> float | None:
        """The median endTime - startTime of the definition's last SUCCESS instances (times to the second)."""
        items = self._list(str(job), deadline, size=RECENT_RUNS, state="SUCCESS")
        return median_duration(local_seconds(item.get("startTime"), item.get("endTime")) for item in items)

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        marker = self.opts["correlation-param"]
        if not marker or not str(request.job).isdigit():
            return None
        matches = [
            item
            for item in self._list(str(request.job), deadline)
            if _carries(self._with_params(item, deadline), str(marker), request.idempotency_key)
        ]
        if len(matches) > 1:
            ids = ", ".join(str(item.get("id")) for item in matches)
            raise RejectedError(
                f"workflow {request.job}: instances {ids} all carry this CI context's key; which to adopt is unclear",
                hint="stop the extra instances, or use force-new to start a fresh one",
            )
        return self._run(str(matches[0]["id"])) if matches else None

    def _with_params(self, item: dict[str, Any], deadline: float | None) -> Mapping[str, Any]:
        """The instance with its start parameters: 3.4.3 lists summaries without them, so read it whole."""
        if any(isinstance(item.get(field), str) and item[field] for field in ("commandParam", "globalParams")):
            return item
        instance = str(item["id"])
        data = self._call("GET", f"{self._instances}/{instance}", f"read instance {instance}", deadline=deadline)
        return data if isinstance(data, dict) else {}

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        items = self._list(str(job), deadline)
        return [
            self._run(str(item["id"]))
            for item in items
            if STATES.get(_state_name(item.get("state"))) is RunState.RUNNING
        ]

    def _list(
        self, job: str, deadline: float | None, size: int | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        key = "workflowDefinitionCode" if self.v33 else "processDefineCode"
        params: dict[str, Any] = {key: job, "pageNo": 1, "pageSize": size or int(self.opts["lookup-limit"])}
        if state:
            params["stateType"] = state
        data = self._call("GET", self._instances, f"list instances of workflow {job}", params=params, deadline=deadline)
        items = data.get("totalList") if isinstance(data, dict) else None
        return [item for item in items or [] if isinstance(item, dict) and item.get("id") is not None]

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        instance = self._instance_id(run, None)
        seen: dict[str, int] = dict(cursor or {})
        if instance is None:
            return LogChunk("", seen)
        data = self._call("GET", f"{self._instances}/{instance}/tasks", f"task instances of {instance}")
        tasks = data.get("taskList") if isinstance(data, dict) else None
        parts: list[str] = []
        for task in sorted((t for t in tasks or [] if isinstance(t, dict)), key=lambda t: int(t.get("id") or 0)):
            task_id = str(task.get("id"))
            text = self._task_log(task_id, seen)
            if text:
                parts.append(f"--- task {task.get('name', task_id)} (instance {task_id}) ---\n{text}")
        return LogChunk("".join(parts), seen)

    def _task_log(self, task_id: str, seen: dict[str, int]) -> str:
        limit = int(self.opts["log-lines"])
        text = ""
        for _ in range(_MAX_LOG_PAGES):
            try:
                data = self._call(
                    "GET",
                    f"{self.base}/log/detail",
                    f"log of task instance {task_id}",
                    params={"taskInstanceId": task_id, "skipLineNum": seen.get(task_id, 0), "limit": limit},
                )
            except RejectedError:
                break  # not dispatched yet (no host) or no log yet: try again on the next pump
            message = str((data or {}).get("message") or "") if isinstance(data, dict) else ""
            lines = _log_lines(message)
            if not seen.get(task_id) and lines and lines[0].startswith(LOG_HEAD):
                lines = lines[1:]  # the api-server's head line, not a line of the task's log file
            if not lines:
                break
            seen[task_id] = seen.get(task_id, 0) + len(lines)
            text += "".join(line + "\n" for line in lines)
            if len(lines) < limit:
                break
        return text

    def cancel(self, run: RunRef) -> None:
        # A 3.2 command the master has not consumed yet becomes an instance within moments: wait for it.
        instance = self._instance_id(run, None, attempts=_STOP_ATTEMPTS)
        if instance is None:
            raise PlatformError(
                f"run {run.run_id}: the scheduler has not made an instance of it yet, so it cannot be stopped",
                hint="stop it in the DolphinScheduler UI once it appears",
            )
        key = "workflowInstanceId" if self.v33 else "processInstanceId"
        refused = STOP_REFUSED_33 if self.v33 else STOP_REFUSED_32
        for _ in range(_STOP_ATTEMPTS):
            try:
                self._call(
                    "POST",
                    f"{self.base}/projects/{self.project}/executors/execute",
                    f"stop instance {instance}",
                    form={key: instance, "executeType": "STOP"},
                )
                return
            except (RejectedError, UnreachableError) as exc:
                if exc.status_code not in refused:
                    raise
            current = self.status(run, None)
            # READY_STOP: a stop is already under way (3.2 refuses a second one).
            if current.state.terminal or current.raw == "READY_STOP":
                return
            self.clock.sleep(0.3)  # not woken by the stop signal: cancelling runs after it
        raise PlatformError(
            f"instance {instance}: the scheduler kept refusing to stop it",
            hint="stop it in the DolphinScheduler UI; 3.2 stops only RUNNING_EXECUTION and READY_PAUSE instances",
        )


def _data(response: requests.Response, what: str, transient_ok: bool) -> Any:
    try:
        document = response.json()
    except ValueError as exc:
        raise UnreachableError(
            f"{what}: the answer is not JSON (HTTP {response.status_code})",
            hint="check the url: it should end with /dolphinscheduler",
        ) from exc
    if not isinstance(document, dict) or "code" not in document:
        raise UnreachableError(
            f"{what}: the answer has no {{code, msg, data}} envelope",
            hint="check the url: it should end with /dolphinscheduler",
        )
    code = int(document.get("code") or 0)
    if code == 0:
        return document.get("data")
    message = f"{what}: DolphinScheduler answered code {code}: {document.get('msg')}"
    if code in AUTH_CODES:
        raise AuthError(message, hint="check the token's user: it needs permission on this project", status_code=code)
    if code in TRANSIENT_CODES and transient_ok:
        raise UnreachableError(message, hint="see the api-server log", status_code=code)
    raise RejectedError(
        message,
        hint="check options.project-code, the workflow definition code (job:) and that it is online",
        status_code=code,
    )


def _log_lines(message: str) -> list[str]:
    """Lines as the worker counts them for skipLineNum: Java's line breaks only (str.splitlines also
    breaks on form feeds, U+2028 and others, which would skip lines of the next page)."""
    lines = _JAVA_LINE_BREAK.split(message)
    if lines and lines[-1] == "":
        lines.pop()  # rollViewLogLines ends every line with \r\n
    return lines


def _state_name(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return STATE_CODES.get(value, str(value))
    if isinstance(value, dict):  # some serialisers give {"code": 7, "desc": "success"}
        return _state_name(value.get("code"))
    text = str(value or "")
    return STATE_CODES.get(int(text), text) if text.isdigit() else text.upper()


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or value is None:
        return "" if value is None else str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _carries(item: Mapping[str, Any], marker: str, key: str) -> bool:
    """Whether an instance's start parameters (commandParam or globalParams) hold the key."""
    for field in ("commandParam", "globalParams"):
        text = item.get(field)
        if isinstance(text, str) and key in text and marker in text:
            return True
    return False
