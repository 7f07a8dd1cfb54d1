"""A stand-in XXL-JOB admin (stdlib only): `python standin.py --port-file F`.

Answers as xuxueli/xxl-job does at tag 2.4.2, 3.2.0 or 3.3.0 (`/_admin/config {version}`; 3.3.1 and 3.3.2
change none of these files' answers), following these files at those tags (paths under xxl-job-admin/src/main/
java/com/xxl/job/admin/ unless said otherwise):
- Login. 2.4.2: controller/IndexController.java (POST /login, form userName/password) and
  service/impl/LoginService.java (cookie XXL_JOB_LOGIN_IDENTITY; ReturnT 500 on bad credentials);
  controller/interceptor/PermissionInterceptor.java (not logged in: 302 to /toLogin). 3.2.0:
  controller/login/LoginController.java, 3.3.0: controller/base/LoginController.java (POST /auth/doLogin; the
  xxl-sso cookie is application.properties `xxl-sso.token.key` = xxl_job_login_token). Not logged in, xxl-sso
  (xxl-sso-core 2.0.0 for 3.2.0, 2.2.0 for 3.3.0) XxlSsoWebInterceptor throws
  XxlSsoException("not login for path:" + servletPath) for a @ResponseBody method, and
  web/error/WebHandlerExceptionResolver.java writes HTTP 200 GsonTool.toJson(Response.ofFail(ex.toString()))
  (Gson leaves out the null `data`).
- Answers. 2.4.2 and 3.2.0: xxl-job-core ReturnT.java {code, msg, content} (3.2.0 adds isSuccess(), so
  Jackson writes `success`). 3.3.0 (release notes 7.41 item 14: ReturnT becomes Response, `content` becomes
  `data`): xxl-tool 2.3.2 com/xxl/tool/response/Response.java {code, msg, data, success} and PageModel.java
  {offset, pagesize, data, total}.
- controller/biz/JobInfoController.java `/jobinfo/trigger` (required @RequestParam id, executorParam,
  addressList) and service/impl/XxlJobServiceImpl.trigger (unknown id: fail "jobinfo_glue_jobid_unvalid").
- controller/biz/JobLogController.java `/joblog/pageList`: 2.4.2 and 3.2.0 take start/length and answer a
  bare {recordsTotal, recordsFiltered, data: [log]}; 3.3.0 takes offset/pagesize, refuses jobId < 1
  ("system_please_choose" + "jobinfo_job") and answers Response<PageModel> {code, msg, data: {data: [log],
  total}}. XxlJobLogMapper.xml: jobId > 0 filters by job, logStatus 1 success / 2 failed / 3 running,
  ORDER BY trigger_time DESC. `/joblog/logDetailCat` (logId, fromLineNum) answers LogResult {fromLineNum,
  toLineNum, logContent, end} under `content` (2.x, 3.2) or `data` (3.3); `end` is set once fromLineNum >
  toLineNum and handleCode > 0; `filter` HTML-escapes the text (HtmlUtils.htmlEscape, UTF-8) keeping <br>, <b>
  and </b>. `/joblog/logKill` (id): refuses only triggerCode != 200, calls the executor's kill(jobId) and, on
  its success, writes the log handleCode 500, "joblog_kill_log_byman:" + the executor's msg, whatever it was
  (scheduler/complete/JobCompleter.complete, 2.4.2 XxlJobCompleter; an unknown id dereferences null).
- The executor, xxl-job-core: ExecutorBizImpl.kill (removes the task's JobThread, success either way, msg
  "job thread already killed." when there is none); thread/JobThread.java (one thread per task runs the runs
  one after another: block strategy SERIAL_EXECUTION; idles out after 30 empty 3 s polls; a stopped thread
  calls back "scheduling center kill job. [job running, killed]" or "[job not executed, in the job queue,
  killed.]", which JobCompleteHelper drops for a log already handled; its XxlJobHelper.log lines and their
  <br> markup); log/XxlJobFileAppender.readLog (toLineNum: every line's count up to 3.2.0, the last line read
  or 0 from 3.3.0; "readLog fail, logFile not exists" with isEnd before the thread wrote the file);
  XxlJobHelper.logDetail (the "yyyy-MM-dd HH:mm:ss [class#method]-[line]-[thread] text" line format).
Spring's missing @RequestParam answers HTTP 400. The context path is /xxl-job-admin (application.properties,
up to 3.4.0).

The trigger is asynchronous as in JobTriggerPoolHelper: the log appears `trigger_delay` seconds later.
Admin (no auth): POST /_admin/reset, /_admin/config {version, trigger_delay}, /_admin/jobs
{id, group, outcome: success|fail|timeout, duration, lines}, /_admin/logs (a raw log row to insert);
/_admin/logout (forget every session); GET /_admin/requests, /_admin/logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONTEXT = "/xxl-job-admin"
USERS = {"admin": "123456"}
VERSIONS = ("2.4.2", "3.2.0", "3.3.0")
OUTCOME_CODES = {"success": 200, "fail": 500, "timeout": 502}
MAX_PARAM = 512  # doc/db/tables_xxl_job.sql: xxl_job_log.executor_param varchar(512)
KILL_MSG = "人为操作\uff0c主动终止"  # i18n joblog_kill_log_byman (zh_CN)


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.version = "2.4.2"
        self.trigger_delay = 0.3
        self.tokens: set[str] = set()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.logs: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.next_id = 1
        # The executor's JobThreads, one per (address, task): busy until, and when each was last killed.
        self.busy_until: dict[tuple[str, int], float] = {}
        self.killed_at: dict[tuple[str, int], float] = {}


STATE = State()


def _at_least(version: str) -> bool:
    return tuple(map(int, STATE.version.split("."))) >= tuple(map(int, version.split(".")))


def _login_route() -> tuple[str, str]:
    """The login path and its cookie: xxl-sso from 3.2.0 on."""
    return ("auth/doLogin", "xxl_job_login_token") if _at_least("3.2.0") else ("login", "XXL_JOB_LOGIN_IDENTITY")


def answer(code: int, msg: str | None = None, data: Any = None) -> dict[str, Any]:
    """ReturnT {code, msg, content} up to 3.2.0, xxl-tool Response {code, msg, data} from 3.3.0 (as Jackson writes
    them: every getter, `success` from isSuccess() where the class has one)."""
    if _at_least("3.3.0"):
        return {"code": code, "msg": msg, "data": data, "success": code == 200}
    body: dict[str, Any] = {"code": code, "msg": msg, "content": data}
    if _at_least("3.2.0"):
        body["success"] = code == 200
    return body


def ok(data: Any = None, msg: str | None = None) -> tuple[int, Any]:
    return 200, answer(200, msg, data)


def fail(msg: str) -> tuple[int, Any]:
    return 200, answer(500, msg)


def exception(text: str) -> tuple[int, Any]:
    """What the admin's exception resolver writes for a @ResponseBody method: HTTP 200, code 500."""
    if _at_least("3.2.0"):
        return 200, {"code": 500, "msg": text}  # GsonTool: the null data is left out
    return 200, {"code": 500, "msg": text.replace("\n", "<br/>"), "content": None}  # 2.4.2 WebExceptionResolver


def _fmt(epoch: float) -> str:
    """A java.util.Date as Spring Boot's Jackson writes it (ISO-8601 with the offset)."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="milliseconds")


def _refresh(log: dict[str, Any], now: float) -> None:
    """Time-driven state, computed lazily: dispatch after the delay, the handle result after the duration."""
    if log.get("raw"):
        return
    if log["triggerCode"] == 0 and now >= log["_dispatch_at"]:
        log["triggerCode"] = 200
        log["triggerMsg"] = "任务触发类型\uff1a手动触发"
    if log["triggerCode"] == 200 and log["handleCode"] == 0 and now >= log["_end_at"]:
        log["handleCode"] = OUTCOME_CODES[log["_outcome"]]
        log["handleMsg"] = "" if log["handleCode"] == 200 else f"job {log['_outcome']}"
        log["handleTime"] = _fmt(now)
        log["_result"] = (log["handleCode"], log["handleMsg"])  # what the JobThread wrote to the file


def _visible(now: float) -> list[dict[str, Any]]:
    """Logs the admin has written: a trigger's row exists once the trigger pool picked it up."""
    rows = []
    for log in STATE.logs:
        if log.get("raw") or now >= log["_visible_at"]:
            _refresh(log, now)
            rows.append(log)
    return rows


# JobThread.java: the line numbers of its XxlJobHelper.log calls (execute start, timeout, end(finish), toStop).
JOB_THREAD_LINES = {"2.4.2": (133, 156, 179, 194), "3.2.0": (134, 157, 180, 195), "3.3.0": (128, 151, 174, 189)}
KILL_REASON = "scheduling center kill job."  # ExecutorBizImpl.kill -> XxlJobExecutor.removeJobThread
IDLE_S = 90.0  # JobThread removes itself after more than 30 empty triggerQueue.poll(3 s)
HANDLER = "com.xxl.job.executor.jobhandler.SampleXxlJob#demoJobHandler"  # the executor sample's bean job
JOB_THREAD = "com.xxl.job.core.thread.JobThread#run"


def _entry(log: dict[str, Any], at: float, where: str, line: int, text: str) -> list[str]:
    """One XxlJobHelper.log call as XxlJobHelper.logDetail writes it: a multi-line text spans file lines."""
    stamp = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")
    thread = f"xxl-job, JobThread-{log['jobId']}-{int(log['_start_at'] * 1000)}"
    return f"{stamp} [{where}]-[{line}]-[{thread}] {text}".split("\n")


def _file_lines(log: dict[str, Any], now: float) -> list[str] | None:
    """The executor's log file of this run as of `now`; None before the JobThread took the run up."""
    if log.get("raw") or log["triggerCode"] != 200 or now < log["_start_at"] or log.get("_dequeued"):
        return None
    start_line, timeout_line, end_line, stop_line = JOB_THREAD_LINES[STATE.version]
    start, end = log["_start_at"], log["_end_at"]
    start_text = f"<br>----------- xxl-job job execute start -----------<br>----------- Param:{log['executorParam']}"
    lines = _entry(log, start, JOB_THREAD, start_line, start_text)
    job_lines: list[str] = log["_lines"]
    for n, text in enumerate(job_lines):
        at = start + (end - start) * (n + 1) / (len(job_lines) + 1)
        if at <= now:
            lines += _entry(log, at, HANDLER, 44 + n, text)
    if log.get("_result"):  # the run ended by itself; a later kill rewrites the admin's record, not this file
        code, msg = log["_result"]
        if log["_outcome"] == "timeout":
            lines += _entry(log, end, JOB_THREAD, timeout_line, "<br>----------- xxl-job job execute timeout")
        finish = f"<br>----------- xxl-job job execute end(finish) -----------<br>----------- Result: handleCode={code}"
        lines += _entry(log, end, JOB_THREAD, end_line, f"{finish}, handleMsg = {msg or 'null'}")
    elif log.get("_stopped"):
        lines += _entry(log, end, JOB_THREAD, stop_line, f"<br>----------- JobThread toStop, stopReason:{KILL_REASON}")
    return lines


# JobLogController.filter: HtmlUtils.htmlEscape(text, "UTF-8") with <br>, <b> and </b> kept (from 2.4.1 on).
KEPT_TAGS = {"<br>": "###TAG_BR###", "<b>": "###TAG_BOLD###", "</b>": "###TAG_BOLD_END###"}
ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}


def _filter(text: str) -> str:
    for tag, hold in KEPT_TAGS.items():
        text = text.replace(tag, hold)
    text = "".join(ESCAPES.get(c, c) for c in text)
    for tag, hold in KEPT_TAGS.items():
        text = text.replace(hold, tag)
    return text


def _public(log: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in log.items() if not k.startswith("_") and k != "raw"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self, raw: bytes) -> dict[str, str] | None:
        """Spring binds @RequestParam from the query and from a urlencoded body only."""
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        form = {k: v[0] for k, v in query.items()}
        ctype = self.headers.get("Content-Type") or ""
        if raw and not ctype.startswith("application/x-www-form-urlencoded"):
            return None
        form.update({k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()})
        return form

    def _cookie(self) -> str | None:
        name = _login_route()[1]
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        raw = self._body()
        path = urlsplit(self.path).path
        if path.startswith("/_admin"):
            self._admin(method, path[len("/_admin/") :], raw)
            return
        form = self._form(raw)
        with STATE.lock:
            STATE.requests.append({"method": method, "path": path, "headers": dict(self.headers.items()), "form": form})
        if not path.startswith(CONTEXT + "/"):
            self._send(404, {"timestamp": time.time(), "status": 404, "error": "Not Found", "path": path})
            return
        route = path[len(CONTEXT) + 1 :]
        if form is None:
            self._send(400, {"status": 400, "error": "Bad Request", "message": "not a form body"})
            return
        if route == _login_route()[0] and method == "POST":
            self._login(form)
            return
        if route not in ROUTES:
            self._send(404, {"status": 404, "error": "Not Found", "path": path})
            return
        with STATE.lock:
            logged_in = self._cookie() in STATE.tokens
        if not logged_in and _at_least("3.2.0"):
            # xxl-sso throws XxlSsoException for a @ResponseBody method; WebHandlerExceptionResolver renders it.
            self._send(*exception(f"com.xxl.sso.core.exception.XxlSsoException: not login for path:/{route}"))
            return
        if not logged_in:
            self._send(302, None, {"Location": CONTEXT + "/toLogin"})
            return
        required, handler = ROUTES[route]
        missing = [name for name in required if name not in form]
        if missing:
            message = f"Required request parameter '{missing[0]}' for method parameter type is not present"
            self._send(400, {"status": 400, "error": "Bad Request", "message": message, "path": path})
            return
        try:
            with STATE.lock:
                status, body = handler(form)
        except ValueError as exc:  # an int parameter that is not a number
            self._send(400, {"status": 400, "error": "Bad Request", "message": str(exc), "path": path})
            return
        self._send(status, body)

    def _login(self, form: dict[str, str]) -> None:
        user, password = form.get("userName") or "", form.get("password") or ""
        if not user.strip() or not password.strip():
            self._send(*fail("账号或密码为空"))
            return
        if USERS.get(user) != password:
            self._send(*fail("账号或密码错误"))
            return
        token = secrets.token_hex(16)
        with STATE.lock:
            STATE.tokens.add(token)
        cookie = f"{_login_route()[1]}={token}; Path=/; HttpOnly"
        self._send(*ok(), {"Set-Cookie": cookie})

    # -- admin ------------------------------------------------------------------------------------

    def _admin(self, method: str, route: str, raw: bytes) -> None:
        payload = json.loads(raw or b"{}")
        with STATE.lock:
            if method == "GET" and route == "requests":
                self._send(200, STATE.requests)
            elif method == "GET" and route == "logs":
                now = time.time()
                for log in STATE.logs:
                    _refresh(log, now)
                self._send(200, [{**_public(log), "killed": log.get("_killed", False)} for log in STATE.logs])
            elif route == "logout":  # the admin forgets every session (a restart)
                STATE.tokens.clear()
                self._send(200, {})
            elif route == "reset":
                STATE.reset()
                self._send(200, {})
            elif route == "config":
                version = str(payload.get("version", STATE.version))
                if version not in VERSIONS:
                    self._send(400, {"error": f"version {version} is not one of {VERSIONS}"})
                    return
                STATE.version = version
                STATE.trigger_delay = float(payload.get("trigger_delay", STATE.trigger_delay))
                self._send(200, {})
            elif route == "jobs":
                STATE.jobs[int(payload["id"])] = payload
                self._send(200, {})
            elif route == "logs":
                log = {"id": STATE.next_id, "raw": True, **payload}
                STATE.next_id += 1
                STATE.logs.append(log)
                self._send(200, _public(log))
            else:
                self._send(404, {"error": route})


# -- the admin's API, called under STATE.lock ---------------------------------------------------------


def trigger(form: dict[str, str]) -> tuple[int, Any]:
    job = STATE.jobs.get(int(form["id"]))
    if job is None:
        return fail("任务ID非法")
    now = time.time()
    duration = float(job.get("duration", 1.0))
    if len(form["executorParam"]) > MAX_PARAM:
        # MySQL strict mode refuses the log's executor_param update: the row stays undispatched, paramless.
        STATE.logs.append(
            {
                "id": STATE.next_id,
                "raw": True,
                "jobId": int(form["id"]),
                "jobGroup": 1,
                "executorParam": None,
                "triggerCode": 0,
                "handleCode": 0,
                "triggerTime": _fmt(now),
            }
        )
        STATE.next_id += 1
        return ok()
    address = form["addressList"] or "http://127.0.0.1:9999/"
    dispatch = now + STATE.trigger_delay
    # Block strategy SERIAL_EXECUTION (the default): the task's one JobThread runs its runs one after another.
    begin = max(dispatch, STATE.busy_until.get((address, int(form["id"])), 0.0))
    STATE.busy_until[(address, int(form["id"]))] = begin + duration
    log = {
        "id": STATE.next_id,
        "jobGroup": int(job.get("group", 1)),
        "jobId": int(form["id"]),
        "executorAddress": address,
        "executorHandler": job.get("handler", "demoJobHandler"),
        "executorParam": form["executorParam"],
        "executorShardingParam": None,
        "executorFailRetryCount": 0,
        "triggerTime": _fmt(now),
        "triggerCode": 0,
        "triggerMsg": None,
        "handleTime": None,
        "handleCode": 0,
        "handleMsg": None,
        "alarmStatus": 0,
        "_visible_at": dispatch,
        "_dispatch_at": dispatch,
        "_start_at": begin,
        "_end_at": begin + duration,
        "_outcome": job.get("outcome", "success"),
        "_lines": list(job.get("lines", [])),
    }
    STATE.next_id += 1
    STATE.logs.append(log)
    return ok()


def page_list(form: dict[str, str]) -> tuple[int, Any]:
    paging = ("offset", "pagesize") if _at_least("3.3.0") else ("start", "length")
    start, length = int(form.get(paging[0]) or 0), int(form.get(paging[1]) or 10)
    job_group, job_id, status = int(form["jobGroup"]), int(form["jobId"]), int(form["logStatus"])
    if job_id < 1 and _at_least("3.3.0"):
        return fail("请选择任务")
    rows = _visible(time.time())
    if job_id > 0:
        rows = [r for r in rows if r.get("jobId") == job_id]
    elif job_group > 0:
        rows = [r for r in rows if r.get("jobGroup") == job_group]
    if status == 1:
        rows = [r for r in rows if r.get("handleCode") == 200]
    elif status == 2:
        rows = [r for r in rows if r.get("triggerCode") not in (0, 200) or r.get("handleCode") not in (0, 200)]
    elif status == 3:
        rows = [r for r in rows if r.get("triggerCode") == 200 and r.get("handleCode") == 0]
    rows = sorted(rows, key=lambda r: (str(r.get("triggerTime")), r["id"]), reverse=True)
    page = [_public(r) for r in rows[start : start + length]]
    if _at_least("3.3.0"):
        return ok({"offset": 0, "pagesize": 0, "data": page, "total": len(rows)})  # PageModel: offset unset
    return 200, {"recordsTotal": len(rows), "recordsFiltered": len(rows), "data": page}


def _load(log_id: int) -> dict[str, Any] | None:
    return next((log for log in _visible(time.time()) if log["id"] == log_id), None)


def _read_log(log: dict[str, Any], from_line: int) -> dict[str, Any]:
    """ExecutorBizImpl.log -> XxlJobFileAppender.readLog: the lines numbered fromLineNum on (from 1)."""
    lines = _file_lines(log, time.time())
    if lines is None:
        return {"fromLineNum": from_line, "toLineNum": 0, "logContent": "readLog fail, logFile not exists", "end": True}
    chunk = lines[max(from_line, 1) - 1 :]
    # Up to 3.2 toLineNum is LineNumberReader's count of every line; 3.3.0 counts the last line read (0: none).
    last_read = max(from_line, 1) - 1 + len(chunk) if chunk else 0
    to_line = last_read if _at_least("3.3.0") else len(lines)
    # 3.3.0 appends System.lineSeparator(), "\n" on the Linux executor here.
    text = "".join(f"{x}\n" for x in chunk)
    return {"fromLineNum": from_line, "toLineNum": to_line, "logContent": text, "end": False}


def log_detail_cat(form: dict[str, str]) -> tuple[int, Any]:
    log = _load(int(form["logId"]))
    if log is None:
        return fail("日志ID非法")
    content = _read_log(log, int(form["fromLineNum"]))
    if content["fromLineNum"] > content["toLineNum"] and log["handleCode"] > 0:
        content["end"] = True
    if content["logContent"].strip():
        content["logContent"] = _filter(content["logContent"])  # "fix xss"
    return ok(content)


def _thread_key(log: dict[str, Any]) -> tuple[str, int]:
    return str(log.get("executorAddress")), int(log.get("jobId") or 0)


def _thread_alive(key: tuple[str, int], now: float) -> bool:
    """A task's JobThread lives from its first run until it idled IDLE_S after the last, unless killed since."""
    killed = STATE.killed_at.get(key, float("-inf"))
    return any(
        not log.get("raw") and _thread_key(log) == key and killed < log["_dispatch_at"] <= now < log["_end_at"] + IDLE_S
        for log in STATE.logs
    )


def _executor_kill(key: tuple[str, int], now: float) -> str | None:
    """ExecutorBizImpl.kill(jobId): removes the task's JobThread, whatever it runs or queues; success either way."""
    if not _thread_alive(key, now):
        return "job thread already killed."
    STATE.killed_at[key] = STATE.busy_until[key] = now
    for log in STATE.logs:
        if log.get("raw") or _thread_key(log) != key or log["handleCode"] != 0 or log["_dispatch_at"] > now:
            continue
        running = log["_start_at"] <= now
        where = "[job running, killed]" if running else "[job not executed, in the job queue, killed.]"
        # The JobThread's callback; the admin keeps a log's first result only ("log repeate callback.").
        log.update(handleCode=500, handleMsg=f"{KILL_REASON} {where}", handleTime=_fmt(now), _end_at=now)
        log.update(_stopped=running, _dequeued=not running)
    return None


def log_kill(form: dict[str, str]) -> tuple[int, Any]:
    """JobLogController.logKill: kills by the log's task id on the log's executor, then writes the log as
    killed (handleCode 500) whatever it was, the executor's "job thread already killed." included."""
    now = time.time()
    log = _load(int(form["id"]))
    if log is None:  # xxlJobLogMapper.load answers null and log.getJobId() throws
        if _at_least("3.2.0"):
            return exception(
                'java.lang.NullPointerException: Cannot invoke "XxlJobLog.getJobId()" because "log" is null'
            )
        return exception("java.lang.NullPointerException")
    if int(log.get("jobId") or 0) not in STATE.jobs:
        return fail("任务ID非法")
    if log["triggerCode"] != 200:
        return fail("调度失败\uff0c无法终止日志")
    msg = "job thread already killed." if log.get("raw") else _executor_kill(_thread_key(log), now)
    log.update(handleCode=500, handleMsg=f"{KILL_MSG}:{msg or ''}", handleTime=_fmt(now), _killed=True)
    return ok(msg)  # 2.4.2 new ReturnT(msg), 3.2.0 ReturnT.ofSuccess(msg), 3.3.0 Response.ofSuccess(msg)


ROUTES: dict[str, tuple[tuple[str, ...], Any]] = {
    "jobinfo/trigger": (("id", "executorParam", "addressList"), trigger),
    "joblog/pageList": (("jobGroup", "jobId", "logStatus", "filterTime"), page_list),
    "joblog/logDetailCat": (("logId", "fromLineNum"), log_detail_cat),
    "joblog/logKill": (("id",), log_kill),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    main()
