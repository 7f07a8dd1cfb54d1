"""A stand-in DolphinScheduler api-server for tests: stdlib only, 127.0.0.1.

Follows apache/dolphinscheduler, tag 3.2.2 (api-version 3.2) and, for the 3.3 line, branch dev at 7e0095dca1 and the
released 3.4.2 / 3.4.3 sources (`dolphinscheduler-api` and `-common` `-sources` jars); `list_summaries` gives 3.4.3's
instance list (vo/WorkflowInstanceSummaryVO.java: no commandParam, no globalParams):
- dolphinscheduler-api/src/main/java/org/apache/dolphinscheduler/api/controller/ExecutorController.java:
  3.2 `POST projects/{projectCode}/executors/start-process-instance` (form: processDefinitionCode, scheduleTime,
  failureStrategy, warningType required; startParams a JSON map; answers a triggerCode), 3.3
  `.../start-workflow-instance` (workflowDefinitionCode; answers [workflowInstanceId]);
  `POST .../executors/execute` (processInstanceId | workflowInstanceId on 3.3, executeType);
- .../controller/ProcessInstanceController.java (3.2) and WorkflowInstanceController.java (3.3): `GET {id}`,
  `GET {id}/tasks` ({taskList, processInstanceState | workflowInstanceState}), `GET ?processDefineCode |
  workflowDefinitionCode, stateType, pageNo, pageSize` (PageInfo {totalList, total, ...}; without a definition
  code, every instance of the project, newest first), 3.2 `GET trigger?triggerCode=`;
- .../controller/LoggerController.java + service/impl/LoggerServiceImpl.java: `GET /log/detail?taskInstanceId,
  skipLineNum, limit` -> {lineNum, message}, the first page (skipLineNum=0) headed by a
  `[LOG-PATH]: <path>, [HOST]: <host>` line that is not in the task's log; a task without host -> 10191;
- .../interceptor/LoginHandlerInterceptor.java: header `token`; missing/unknown -> bare HTTP 401;
- .../exceptions/ApiExceptionHandler.java + utils/Result.java + enums/Status.java: HTTP 200 with
  {code, msg, data, success, failed}; a missing or unparsable parameter -> the method's @ApiException status
  (50014 start, 50015 execute, ...); ServiceException(String) -> 10000; 50003 definition missing, 50004 not
  online, 30002 no project permission, 50001 instance missing;
- 3.2: executor/workflow/instance/stop/StopExecuteFunction.java: STOP only in RUNNING_EXECUTION or READY_PAUSE,
  else 50015; 3.3+: executor/workflow/StopWorkflowInstanceExecutorDelegate.java: STOP only when isCanStop(),
  else ServiceException -> 10000 "... can not stop";
- dolphinscheduler-common/.../enums/WorkflowExecutionStatus.java: state names (3.2 also DELAY_EXECUTION,
  READY_BLOCK, BLOCK); .../enums/WarningType.java: 3.3 has no GLOBAL (a bad enum -> the method's status, 50014).
3.2 makes the instance when the master consumes the command: `trigger?triggerCode=` is empty until then.

Admin (no auth): POST /_admin/reset {api_version, list_summaries}; POST /_admin/definitions {code,
outcome: succeeded|failed|blocked, first_state, duration, submitted_for (seconds in SUBMITTED_SUCCESS), logs: [..],
online, record_dir, command_delay (3.2: seconds until the master makes the instance)};
POST /_admin/tokens {valid: [..], no_permission: [..]}; GET /_admin/requests; GET /_admin/instances.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_TOKEN = "tok-3f9a-CANARY-71c2e"
PREFIX = "/dolphinscheduler"
SUBMITTED_FOR, COMMAND_DELAY, STOP_DELAY = 0.3, 0.3, 0.2
ENUMS = {
    "failureStrategy": {"END", "CONTINUE"},
    "warningType": {"NONE", "SUCCESS", "FAILURE", "ALL", "GLOBAL"},  # WarningType.java; 3.3 has no GLOBAL
    "execType": {"START_PROCESS", "COMPLEMENT_DATA", "REPEAT_RUNNING", "START_FAILURE_TASK_PROCESS"},
    "executeType": {
        "NONE",
        "REPEAT_RUNNING",
        "RECOVER_SUSPENDED_PROCESS",
        "START_FAILURE_TASK_PROCESS",
        "STOP",
        "PAUSE",
    },
}
# 3.2.x StopExecuteFunction: canStop() (RUNNING_EXECUTION, READY_PAUSE) and not READY_STOP, else an
# ExecuteRuntimeException, which ApiExceptionHandler turns into the method's @ApiException status (50015).
CAN_STOP_32 = {"RUNNING_EXECUTION", "READY_PAUSE"}
# 3.3+ StopWorkflowInstanceExecutorDelegate: isCanStop(), else ServiceException(String) -> 10000.
CAN_STOP_33 = {"RUNNING_EXECUTION", "READY_PAUSE", "READY_STOP", "SERIAL_WAIT", "WAIT_TO_RUN"}


class ApiError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset("3.3")

    def reset(self, version: str, list_summaries: bool = False) -> None:
        self.version = version
        # 3.4.3's list answers WorkflowInstanceSummaryVO: no commandParam nor globalParams.
        self.list_summaries = list_summaries
        self.definitions: dict[str, dict[str, Any]] = {}
        self.instances: dict[int, dict[str, Any]] = {}
        self.triggers: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.valid = {DEFAULT_TOKEN}
        self.no_permission: set[str] = set()
        self.next_id = 100
        self.project = "1234567890"


STATE = State()


def _state_of(inst: dict[str, Any], now: float) -> str:
    """Computed lazily from time: submitted -> running -> success/failure; a stop ends in STOP."""
    if inst["stopped_at"] is not None:
        return "READY_STOP" if now < inst["stopped_at"] + STOP_DELAY else "STOP"
    age = now - inst["created"]
    if age < inst["submitted_for"]:
        return str(inst["first_state"])
    if age < inst["submitted_for"] + inst["duration"]:
        return "RUNNING_EXECUTION"
    return {"succeeded": "SUCCESS", "blocked": "BLOCK"}.get(inst["outcome"], "FAILURE")


def _end_time(inst: dict[str, Any], now: float) -> float | None:
    if inst["stopped_at"] is not None:
        return inst["stopped_at"] + STOP_DELAY if now >= inst["stopped_at"] + STOP_DELAY else None
    end = inst["created"] + inst["submitted_for"] + inst["duration"]
    return end if now >= end else None


def _visible(inst: dict[str, Any], now: float) -> bool:
    return now >= float(inst["visible_at"])


def _fmt(at: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else None


def _instance_json(inst: dict[str, Any], now: float) -> dict[str, Any]:
    start_params = inst["start_params"]
    return {
        "id": inst["id"],
        "name": f"{inst['definition']}-{inst['id']}",
        "processDefinitionCode" if STATE.version == "3.2" else "workflowDefinitionCode": int(inst["definition"]),
        "projectCode": int(STATE.project),
        "state": _state_of(inst, now),
        "startTime": _fmt(inst["created"]),
        "endTime": _fmt(_end_time(inst, now)),
        "commandType": "START_PROCESS",
        "commandParam": json.dumps({"StartParams": start_params}),
        "globalParams": json.dumps(
            [{"prop": k, "direct": "IN", "type": "VARCHAR", "value": v} for k, v in start_params.items()]
        ),
        "failureStrategy": inst["form"].get("failureStrategy"),
        "warningType": inst["form"].get("warningType"),
        "workerGroup": inst["form"].get("workerGroup", "default"),
        "tenantCode": inst["form"].get("tenantCode", "default"),
        "dryRun": int(inst["form"].get("dryRun", "0")),
    }


def _task_json(inst: dict[str, Any], now: float) -> dict[str, Any]:
    state = _state_of(inst, now)
    task_state = {"SUBMITTED_SUCCESS": "SUBMITTED_SUCCESS", "READY_STOP": "RUNNING_EXECUTION", "STOP": "KILL"}.get(
        state, state
    )
    return {
        "id": inst["task_id"],
        "name": "main",
        "taskType": "SHELL",
        "state": task_state,
        "host": None if state == inst["first_state"] else "127.0.0.1:1234",
        "processInstanceId": inst["id"],
    }


def _log_lines(inst: dict[str, Any], now: float) -> list[str]:
    """Lines appear spread over the run, so a client reading incrementally sees them in parts."""
    lines: list[str] = inst["logs"]
    running_for = now - inst["created"] - inst["submitted_for"]
    if running_for <= 0:
        return []
    if _end_time(inst, now) is not None or inst["duration"] <= 0:
        return lines
    shown = int(len(lines) * min(1.0, running_for / inst["duration"])) + 1
    return lines[: min(len(lines), shown)]


# -- API handlers ------------------------------------------------------------------------------


def _require(form: dict[str, str], names: list[str], status: int, msg: str) -> None:
    for name in names:
        if name not in form:
            raise ApiError(status, msg)  # MissingServletRequestParameterException -> @ApiException status


def _check_enums(form: dict[str, str], status: int, msg: str) -> None:
    for name, allowed in ENUMS.items():
        if name == "warningType" and STATE.version != "3.2":
            allowed = allowed - {"GLOBAL"}
        if name in form and form[name] not in allowed:
            raise ApiError(status, msg)  # MethodArgumentTypeMismatchException


def start(form: dict[str, str], now: float) -> Any:
    v32 = STATE.version == "3.2"
    code_field = "processDefinitionCode" if v32 else "workflowDefinitionCode"
    err = (50014, "start process instance error" if v32 else "start workflow instance error")
    _require(form, [code_field, "scheduleTime", "failureStrategy", "warningType"], *err)
    _check_enums(form, *err)
    if not form[code_field].lstrip("-").isdigit():
        raise ApiError(*err)
    start_params: dict[str, str] = {}
    if "startParams" in form:
        try:
            parsed = json.loads(form["startParams"])
        except ValueError:
            raise ApiError(*err) from None
        if not isinstance(parsed, dict) or any(isinstance(v, (dict, list)) for v in parsed.values()):
            raise ApiError(*err)  # JSONUtils.toMap -> Map<String, String>
        start_params = {str(k): "" if v is None else str(v) for k, v in parsed.items()}
    definition = STATE.definitions.get(form[code_field])
    if definition is None:
        if v32:
            raise ApiError(50003, f"process definition {form[code_field]} does not exist")
        raise ApiError(10000, f"Internal Server Error: Cannot find the workflow: {form[code_field]}")
    if not definition.get("online", True):
        raise ApiError(50004, f"process definition {form[code_field]} process version 1 not online")
    if form.get("tenantCode", "default") not in ("default", "tenant-a"):
        raise ApiError(10017, f"tenant [{form['tenantCode']}] not exists")
    inst_id = STATE.next_id
    STATE.next_id += 1
    inst = {
        "id": inst_id,
        "task_id": inst_id * 10,
        "definition": form[code_field],
        "created": now + (float(definition.get("command_delay", COMMAND_DELAY)) if v32 else 0.0),
        "visible_at": now + (float(definition.get("command_delay", COMMAND_DELAY)) if v32 else 0.0),
        "duration": float(definition.get("duration", 1.0)),
        "submitted_for": float(definition.get("submitted_for", SUBMITTED_FOR)),
        # 3.2 only: DELAY_EXECUTION (a delayed start) instead of SUBMITTED_SUCCESS; outcome "blocked" ends in BLOCK.
        "first_state": definition.get("first_state", "SUBMITTED_SUCCESS"),
        "outcome": definition.get("outcome", "succeeded"),
        "logs": [str(line) for line in definition.get("logs", ["hello from the task"])],
        "start_params": start_params,
        "form": dict(form),
        "stopped_at": None,
    }
    STATE.instances[inst_id] = inst
    if definition.get("record_dir"):
        record = {"instance": inst_id, "startParams": start_params, "form": form}
        Path(definition["record_dir"], f"{inst_id}.json").write_text(json.dumps(record))
    if v32:
        trigger_code = str(random.randint(10**15, 10**16))
        STATE.triggers[trigger_code] = inst_id
        return int(trigger_code)
    return [inst_id]


def _instance(raw_id: str, now: float) -> dict[str, Any]:
    inst = STATE.instances.get(int(raw_id)) if raw_id.isdigit() else None
    if inst is None or not _visible(inst, now):
        kind = "process" if STATE.version == "3.2" else "workflow"
        raise ApiError(50001, f"{kind} instance {raw_id} does not exist")
    return inst


def execute(form: dict[str, str], now: float) -> Any:
    id_field = "processInstanceId" if STATE.version == "3.2" else "workflowInstanceId"
    err = (50015, "execute process instance error" if STATE.version == "3.2" else "execute workflow instance error")
    _require(form, [id_field, "executeType"], *err)
    _check_enums(form, *err)
    inst = _instance(form[id_field], now)
    state = _state_of(inst, now)
    if form["executeType"] == "STOP":
        if STATE.version == "3.2" and state not in CAN_STOP_32:
            raise ApiError(*err)
        if STATE.version != "3.2" and state not in CAN_STOP_33:
            name = f"{inst['definition']}-{inst['id']}"
            msg = f"Internal Server Error: The workflow instance: {name} status is {state}, can not stop"
            raise ApiError(10000, msg)
        if inst["stopped_at"] is None:
            inst["stopped_at"] = now
    return None


def list_instances(query: dict[str, str], now: float) -> Any:
    key = "processDefineCode" if STATE.version == "3.2" else "workflowDefinitionCode"
    if "pageNo" not in query or "pageSize" not in query:
        raise ApiError(10113, "query process instance list paging error")
    code = query.get(key, "0")
    found = [i for i in STATE.instances.values() if _visible(i, now) and (code == "0" or i["definition"] == code)]
    if query.get("stateType"):  # the controllers' optional stateType (a WorkflowExecutionStatus name)
        found = [i for i in found if _state_of(i, now) == query["stateType"]]
    found.sort(key=lambda i: -int(i["id"]))
    size, page = int(query["pageSize"]), int(query["pageNo"])
    chunk = found[(page - 1) * size : page * size]
    return {
        "totalList": [_summary(_instance_json(i, now)) for i in chunk],
        "total": len(found),
        "totalPage": (len(found) + size - 1) // size,
        "pageSize": size,
        "currentPage": page,
        "pageNo": page,
    }


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    if not STATE.list_summaries:
        return item
    return {k: v for k, v in item.items() if k not in ("commandParam", "globalParams")}


def log_detail(query: dict[str, str], now: float) -> Any:
    for name in ("taskInstanceId", "skipLineNum", "limit"):
        if name not in query:
            raise ApiError(10103, "view task instance log error: missing " + name)
    task_id = int(query["taskInstanceId"])
    inst = next((i for i in STATE.instances.values() if i["task_id"] == task_id and _visible(i, now)), None)
    if inst is None:
        raise ApiError(10008, "task instance not found")
    if _task_json(inst, now)["host"] is None:
        raise ApiError(10191, "task instance host is null")
    skip, limit = int(query["skipLineNum"]), int(query["limit"])
    lines = _log_lines(inst, now)[skip : skip + limit]
    message = "".join(line + "\r\n" for line in lines)  # LogUtils.rollViewLogLines
    if skip == 0:  # LoggerServiceImpl.LOG_HEAD_FORMAT (3.2.x has two spaces after [HOST]:), then line.separator
        host = "  127.0.0.1:1234" if STATE.version == "3.2" else " 127.0.0.1:1234"
        message = f"[LOG-PATH]: /opt/dolphinscheduler/logs/{task_id}.log, [HOST]:{host}\n" + message
    return {"lineNum": len(message.split("\r\n")), "message": message}  # the server's own count (split quirk)


def route(method: str, path: str, query: dict[str, str], form: dict[str, str], now: float) -> Any:
    v32 = STATE.version == "3.2"
    instances = "process-instances" if v32 else "workflow-instances"
    project = f"/projects/{STATE.project}"
    start_path = "start-process-instance" if v32 else "start-workflow-instance"
    if method == "POST" and path == f"{project}/executors/{start_path}":
        return start(form, now)
    if method == "POST" and path == f"{project}/executors/execute":
        return execute(form, now)
    if method == "GET" and path == "/log/detail":
        return log_detail(query, now)
    if method == "GET" and path == f"{project}/{instances}":
        return list_instances(query, now)
    if method == "GET" and v32 and path == f"{project}/process-instances/trigger":
        if "triggerCode" not in query:
            raise ApiError(10113, "query process instance list paging error")
        inst_id = STATE.triggers.get(query["triggerCode"])
        inst = STATE.instances.get(inst_id) if inst_id is not None else None
        return [_instance_json(inst, now)] if inst and _visible(inst, now) else []
    prefix = f"{project}/{instances}/"
    if method == "GET" and path.startswith(prefix):
        rest = path[len(prefix) :].split("/")
        inst = _instance(rest[0], now)
        if len(rest) == 1:
            return _instance_json(inst, now)
        if rest[1:] == ["tasks"]:
            key = "processInstanceState" if v32 else "workflowInstanceState"
            tasks = [_task_json(inst, now)] if _state_of(inst, now) != inst["first_state"] else []
            return {"taskList": tasks, key: _state_of(inst, now)}
    if path.startswith("/projects/") and not path.startswith(project + "/"):
        raise ApiError(10018, f"project {path.split('/')[2]} not found ")
    raise LookupError(path)


# -- HTTP --------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parts.path.startswith("/_admin/"):
            self._admin(method, parts.path[len("/_admin/") :], raw)
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        form: dict[str, str] = {}
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        # Spring's @RequestParam reads query and form alike.
        form = {**query, **form}
        token = self.headers.get("token") or ""
        with STATE.lock:
            STATE.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "form": form,
                    "content_type": self.headers.get("Content-Type"),
                    "token": token,
                    "at": time.time(),
                }
            )
            if not parts.path.startswith(PREFIX + "/"):
                self._send(404, {"status": 404, "error": "Not Found", "path": parts.path})
                return
            if token not in STATE.valid and token not in STATE.no_permission:
                self._send(401)  # LoginHandlerInterceptor: status only, no body
                return
            try:
                if token in STATE.no_permission:
                    raise ApiError(30002, f"user ci is not has project {STATE.project} permission")
                data = route(method, parts.path[len(PREFIX) :], query, form, time.time())
            except ApiError as exc:
                self._send(200, {"code": exc.code, "msg": exc.msg, "data": None, "success": False, "failed": True})
                return
            except LookupError:
                self._send(404, {"status": 404, "error": "Not Found", "path": parts.path})
                return
        self._send(200, {"code": 0, "msg": "success", "data": data, "success": True, "failed": False})

    def _admin(self, method: str, what: str, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        now = time.time()
        with STATE.lock:
            if what == "reset":
                STATE.reset(str(body.get("api_version", "3.3")), bool(body.get("list_summaries", False)))
                answer: Any = {"ok": True}
            elif what == "definitions":
                STATE.definitions[str(body["code"])] = body
                answer = {"ok": True}
            elif what == "tokens":
                STATE.valid = set(body.get("valid", [DEFAULT_TOKEN]))
                STATE.no_permission = set(body.get("no_permission", []))
                answer = {"ok": True}
            elif what == "requests":
                answer = {"requests": STATE.requests}
            elif what == "instances":
                answer = {
                    "items": [
                        {
                            **_instance_json(i, now),
                            "stop_requested": i["stopped_at"] is not None,
                            "ended_at": _end_time(i, now),  # epoch seconds, for the lag bench
                            "created_at": i["created"],
                        }
                        for i in STATE.instances.values()
                    ]
                }
            else:
                self._send(404, {"error": what})
                return
        self._send(200, answer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(args.port_file).write_text(str(server.server_address[1]))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
