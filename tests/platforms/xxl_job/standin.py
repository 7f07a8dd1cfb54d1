"""A stand-in XXL-JOB admin (stdlib only): `python standin.py --port-file F`.

Follows xuxueli/xxl-job at tag 2.4.2 and tag 3.2.0:
- xxl-job-admin/src/main/java/com/xxl/job/admin/controller/IndexController.java (2.4.2: POST /login, form
  userName/password) and service/impl/LoginService.java (cookie XXL_JOB_LOGIN_IDENTITY, ReturnT code 500 on
  bad credentials); controller/interceptor/PermissionInterceptor.java (not logged in: 302 to /toLogin).
- 3.2.0 controller/login/LoginController.java (POST /auth/doLogin; xxl-sso cookie `xxl_job_login_token` from
  application.properties `xxl-sso.token.key`); not logged in, xuxueli/xxl-sso XxlSsoWebInterceptor throws
  XxlSsoException("not login.") for a @ResponseBody method and web/error/WebHandlerExceptionResolver.java
  answers HTTP 200 {code: 500, msg: exception text}.
- controller/biz/JobInfoController.java `/jobinfo/trigger` (required @RequestParam id, executorParam,
  addressList) and XxlJobServiceImpl.trigger (unknown id: ReturnT 500 "jobinfo_glue_jobid_unvalid").
- controller/biz/JobLogController.java `/joblog/pageList` (start, length optional; jobGroup, jobId, logStatus,
  filterTime required; answer {recordsTotal, recordsFiltered, data}; XxlJobLogMapper.xml: jobId > 0 filters
  by job, logStatus 1 success / 2 failed / 3 running, ORDER BY trigger_time DESC), `/joblog/logDetailCat`
  (logId, fromLineNum -> ReturnT<LogResult{fromLineNum, toLineNum, logContent, isEnd}>; `end` is set once
  fromLineNum > toLineNum and handleCode > 0), `/joblog/logKill` (id; only when triggerCode == 200; sets
  handleCode 500).
- xxl-job-core ReturnT.java: {code, msg, content}, SUCCESS_CODE 200, FAIL_CODE 500.
Spring's missing @RequestParam answers HTTP 400. The context path is /xxl-job-admin (application.properties).

The trigger is asynchronous as in JobTriggerPoolHelper: the log appears `trigger_delay` seconds later.
Admin (no auth): POST /_admin/reset, /_admin/config {api_version, trigger_delay}, /_admin/jobs
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
COOKIES = {2: "XXL_JOB_LOGIN_IDENTITY", 3: "xxl_job_login_token"}
OUTCOME_CODES = {"success": 200, "fail": 500, "timeout": 502}
MAX_PARAM = 512  # doc/db/tables_xxl_job.sql: xxl_job_log.executor_param varchar(512)
KILL_MSG = "人为操作\uff0c主动终止"  # i18n joblog_kill_log_byman (zh_CN)


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.api_version = 2
        self.trigger_delay = 0.3
        self.tokens: set[str] = set()
        self.jobs: dict[int, dict[str, Any]] = {}
        self.logs: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.next_id = 1


STATE = State()


def _fmt(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


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


def _visible(now: float) -> list[dict[str, Any]]:
    """Logs the admin has written: a trigger's row exists once the trigger pool picked it up."""
    rows = []
    for log in STATE.logs:
        if log.get("raw") or now >= log["_visible_at"]:
            _refresh(log, now)
            rows.append(log)
    return rows


def _lines(log: dict[str, Any], now: float) -> list[str]:
    if log.get("raw") or log["triggerCode"] != 200:
        return []
    lines = ["----------- xxl-job job execute start -----------", f"----------- Param:{log['executorParam']}"]
    job_lines: list[str] = log["_lines"]
    span = max(log["_end_at"] - log["_dispatch_at"], 0.001)
    shown = len(job_lines) if log["handleCode"] else int(len(job_lines) * (now - log["_dispatch_at"]) / span)
    lines += job_lines[: max(0, min(shown, len(job_lines)))]
    if log["handleCode"]:
        lines.append(f"----------- xxl-job job execute end(finish) ----------- ReturnT:{log['handleCode']}")
    return lines


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
        name = COOKIES[STATE.api_version]
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
        login = {2: "login", 3: "auth/doLogin"}[STATE.api_version]
        if route == login and method == "POST":
            self._login(form)
            return
        if route not in ROUTES:
            self._send(404, {"status": 404, "error": "Not Found", "path": path})
            return
        with STATE.lock:
            logged_in = self._cookie() in STATE.tokens
        if not logged_in and STATE.api_version == 3:
            # xxl-sso throws XxlSsoException for a @ResponseBody method; WebHandlerExceptionResolver renders it.
            msg = "com.xxl.sso.core.exception.XxlSsoException: not login."
            self._send(200, {"code": 500, "msg": msg, "data": None})
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
            self._send(200, {"code": 500, "msg": "账号或密码为空", "content": None})
            return
        if USERS.get(user) != password:
            self._send(200, {"code": 500, "msg": "账号或密码错误", "content": None})
            return
        token = secrets.token_hex(16)
        with STATE.lock:
            STATE.tokens.add(token)
        cookie = f"{COOKIES[STATE.api_version]}={token}; Path=/; HttpOnly"
        self._send(200, {"code": 200, "msg": None, "content": None}, {"Set-Cookie": cookie})

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
                STATE.api_version = int(payload.get("api_version", STATE.api_version))
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
        return 200, {"code": 500, "msg": "任务ID非法", "content": None}
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
        return 200, {"code": 200, "msg": None, "content": None}
    log = {
        "id": STATE.next_id,
        "jobGroup": int(job.get("group", 1)),
        "jobId": int(form["id"]),
        "executorAddress": form["addressList"] or "http://127.0.0.1:9999/",
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
        "_visible_at": now + STATE.trigger_delay,
        "_dispatch_at": now + STATE.trigger_delay,
        "_end_at": now + STATE.trigger_delay + duration,
        "_outcome": job.get("outcome", "success"),
        "_lines": list(job.get("lines", [])),
    }
    STATE.next_id += 1
    STATE.logs.append(log)
    return 200, {"code": 200, "msg": None, "content": None}


def page_list(form: dict[str, str]) -> tuple[int, Any]:
    start, length = int(form.get("start") or 0), int(form.get("length") or 10)
    job_group, job_id, status = int(form["jobGroup"]), int(form["jobId"]), int(form["logStatus"])
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
    return 200, {"recordsTotal": len(rows), "recordsFiltered": len(rows), "data": page}


def _load(log_id: int) -> dict[str, Any] | None:
    return next((log for log in _visible(time.time()) if log["id"] == log_id), None)


def log_detail_cat(form: dict[str, str]) -> tuple[int, Any]:
    log = _load(int(form["logId"]))
    if log is None:
        return 200, {"code": 500, "msg": "日志ID非法", "content": None}
    from_line = int(form["fromLineNum"])
    lines = _lines(log, time.time())
    # XxlJobFileAppender.readLog: the lines numbered from fromLineNum on, toLineNum the last one read.
    chunk = lines[from_line - 1 :] if from_line >= 1 else lines
    to_line = len(lines) if chunk else from_line - 1
    content = {"fromLineNum": from_line, "toLineNum": to_line, "logContent": "".join(f"{x}\n" for x in chunk)}
    content["end"] = from_line > to_line and log["handleCode"] > 0
    return 200, {"code": 200, "msg": None, "content": content}


def log_kill(form: dict[str, str]) -> tuple[int, Any]:
    log = _load(int(form["id"]))
    if log is None:
        return 500, {"status": 500, "error": "Internal Server Error"}  # the real one dereferences null
    if log["triggerCode"] != 200:
        return 200, {"code": 500, "msg": "调度失败\uff0c无法终止日志", "content": None}
    if log["handleCode"] != 0:
        # The executor answers that the job thread is not running.
        return 200, {"code": 500, "msg": "job thread already killed.", "content": None}
    log["handleCode"] = 500
    log["handleMsg"] = f"{KILL_MSG}:"
    log["handleTime"] = _fmt(time.time())
    log["_killed"] = True
    return 200, {"code": 200, "msg": None, "content": None}


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
