"""A stand-in powerjob-server OpenAPI for tests: stdlib only, 127.0.0.1.

Follows PowerJob/PowerJob, tag v5.1.1 (and v4.3.9 for the legacy login):
- powerjob-common/src/main/java/tech/powerjob/common/OpenAPIConstant.java: paths under /openApi, headers
  X-POWERJOB-APP-ID, X-POWERJOB-ACCESS-TOKEN, X-POWERJOB-AUTH-PASSED;
- powerjob-server/powerjob-server-starter/src/main/java/tech/powerjob/server/openapi/OpenAPIController.java: form
  parameters (runJob appId, jobId, instanceParams, delay; stopInstance/cancelInstance instanceId, appId;
  fetchInstanceStatus/fetchInstanceInfo instanceId; fetchAllJob appId), JSON bodies (authApp AppAuthRequest,
  queryInstance InstancePageQuery), checkJobIdValid / checkInstanceIdValid messages;
- .../openapi/OpenApiInterceptor.java + security/OpenApiSecurityServiceImpl.java: with oms.auth.openapi.enable, every
  path but /assert and /authApp needs both headers (lack_of_appId_in_header, token_is_empty, INVALID_TOKEN,
  Inconsistent_appId_from_token_and_header), answered as PowerResultDTO with X-POWERJOB-AUTH-PASSED: false;
- powerjob-server-core/.../service/impl/AppInfoServiceImpl.java assertApp (INVALID_APP, INCORRECT_PASSWORD; md5 of
  the password for encryptType md5); common/enums/ErrorCodes.java codes;
- powerjob-server-starter/.../web/ControllerExceptionHandler.java: every exception is HTTP 200
  {success: false, code, data: null, message: "<ExceptionClass>: <message>"};
- powerjob-server-core/.../instance/InstanceService.java: stopInstance only while 1-3 ("can't stop finished instance!"),
  cancelInstance only while WAITING_DISPATCH ("instance already up and running"), unknown id "invalid instanceId: N",
  queryInstanceInfo paging (QueryConvertUtils.toPageable ignores `asc`: always ascending);
- powerjob-common/.../enums/InstanceStatus.java: 1 WAITING_DISPATCH, 2 WAITING_WORKER_RECEIVE, 3 RUNNING, 4 FAILED,
  5 SUCCEED, 9 CANCELED, 10 STOPPED; JobServiceImpl.runJob: delay (ms) holds the instance in WAITING_DISPATCH.
Version "4.3.9" (admin config) has no /authApp (404) and no per-call auth; queryInstance then fails as before 5.1.1.

States move with time, computed when asked. Admin (no auth): POST /_admin/reset; POST /_admin/apps {name, password};
POST /_admin/jobs {id, app, name, outcome: succeed|failed, duration, result, record_dir}; POST /_admin/config
{auth_enabled, version, fail_next_run_job: <HTTP status>}; GET /_admin/requests; GET /_admin/instances.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DISPATCH_AFTER, RECEIVE_AFTER = 0.15, 0.3  # seconds after the expected trigger time
RUNNING, FINISHED = {1, 2, 3}, {4, 5, 9, 10}


class Failure(Exception):
    """An exception the ControllerExceptionHandler turns into {success: false}."""

    def __init__(self, kind: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.text = f"{kind}: {message}"
        self.code = code


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.apps: dict[str, dict[str, Any]] = {"shop": {"id": 1, "password": "tok-3f9a-CANARY-71c2e"}}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.instances: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.auth_enabled = True
        self.version = "5.1.1"
        self.next_instance = 703_000_000_001
        self.fail_next_run_job = 0  # a gateway error after runJob was processed (the answer is lost)


STATE = State()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _advance(inst: dict[str, Any]) -> None:
    """Lazily move an instance along its timeline."""
    if inst["status"] in FINISHED:
        return
    now = time.time()
    start = inst["expectedTriggerTime"] / 1000
    job = STATE.jobs[inst["jobId"]]
    if now >= start + DISPATCH_AFTER and inst["status"] == 1:
        inst["status"] = 2
    if now >= start + RECEIVE_AFTER and inst["status"] == 2:
        inst["status"] = 3
        inst["actualTriggerTime"] = int((start + RECEIVE_AFTER) * 1000)
        inst["taskTrackerAddress"] = "127.0.0.1:27777"
        if job.get("record_dir"):  # the job records what it received
            path = Path(job["record_dir"]) / f"{inst['instanceId']}.json"
            path.write_text(json.dumps({"instanceParams": inst["instanceParams"], "jobParams": job.get("jobParams")}))
    end = start + RECEIVE_AFTER + float(job.get("duration", 0.5))
    if now >= end and inst["status"] == 3:
        succeed = job.get("outcome", "succeed") == "succeed"
        inst["status"] = 5 if succeed else 4
        inst["finishedTime"] = int(end * 1000)
        inst["result"] = job.get("result") or ("success" if succeed else "java.lang.RuntimeException: job failed")
    inst["gmtModified"] = _now_ms()


def _long(form: dict[str, str], name: str) -> int | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise Failure(
            "MethodArgumentTypeMismatchException",
            f"Failed to convert value of type 'java.lang.String' to required type 'java.lang.Long'; "
            f'nested exception is java.lang.NumberFormatException: For input string: "{value}"',
        ) from None


def _check_job(job_id: int | None, app_id: int | None) -> dict[str, Any]:
    job = STATE.jobs.get(job_id) if job_id is not None else None
    if job is None:
        raise Failure("IllegalArgumentException", f"can't find job by jobId: {job_id}")
    if app_id is None:
        raise Failure("NullPointerException", "")  # appId.equals(...) on a missing appId
    if app_id != job["appId"]:
        raise Failure("IllegalArgumentException", f"this job is not belong to the app whose appId is {app_id}")
    return job


def _check_instance(instance_id: int | None, app_id: int | None) -> dict[str, Any]:
    inst = STATE.instances.get(instance_id) if instance_id is not None else None
    if inst is None:
        raise Failure("IllegalArgumentException", f"can't find instance by instanceId: {instance_id}")
    if app_id is None:
        raise Failure("NullPointerException", "")
    if app_id != inst["appId"]:
        raise Failure("IllegalArgumentException", f"instance is not belong to the app whose appId is {app_id}")
    return inst


def _fetch_instance(instance_id: int | None) -> dict[str, Any]:
    inst = STATE.instances.get(instance_id) if instance_id is not None else None
    if inst is None:
        raise Failure("IllegalArgumentException", f"invalid instanceId: {instance_id}")
    return inst


def _password_ok(app: dict[str, Any], password: str | None, encrypt_type: str | None) -> bool:
    origin = app["password"]
    if password is None:
        raise Failure("NullPointerException", "")
    if not encrypt_type or encrypt_type.lower() == "none":
        return bool(password == origin)
    if encrypt_type.lower() == "md5":
        return bool(password.lower() == hashlib.md5(origin.encode()).hexdigest())
    raise Failure("PowerJobException", f"INVALID_REQUEST:unknown_encryptType:{encrypt_type}", "-300")


def _assert_app(name: str | None, password: str | None, encrypt_type: str | None) -> int:
    app = STATE.apps.get(name or "")
    if app is None:
        raise Failure("PowerJobException", f"INVALID_APP:{name}", "-402")
    if not _password_ok(app, password, encrypt_type):
        raise Failure("PowerJobException", "INCORRECT_PASSWORD", "-400")
    return int(app["id"])


class Handler(BaseHTTPRequestHandler):
    server_version = "standin-powerjob"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with STATE.lock:
            if path == "/_admin/requests":
                self._send(200, STATE.requests)
            elif path == "/_admin/instances":
                for inst in STATE.instances.values():
                    _advance(inst)
                self._send(200, list(STATE.instances.values()))
            else:  # Spring answers GET on a POST mapping with 405
                self._send(405, {"status": 405, "error": "Method Not Allowed", "path": path})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with STATE.lock:
            if parts.path.startswith("/_admin/"):
                self._admin(parts.path, json.loads(raw or b"{}"))
                return
            STATE.requests.append(
                {
                    "method": "POST",
                    "path": parts.path,
                    "query": parts.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": raw.decode("utf-8", "replace"),
                }
            )
            self._openapi(parts.path, parts.query, raw)

    def _admin(self, path: str, body: dict[str, Any]) -> None:
        if path == "/_admin/reset":
            STATE.reset()
        elif path == "/_admin/apps":
            STATE.apps[body["name"]] = {"id": body.get("id", len(STATE.apps) + 1), "password": body["password"]}
        elif path == "/_admin/jobs":
            app = STATE.apps[body.get("app", "shop")]
            STATE.jobs[int(body["id"])] = {**body, "appId": app["id"], "jobName": body["name"]}
        elif path == "/_admin/config":
            STATE.auth_enabled = bool(body.get("auth_enabled", STATE.auth_enabled))
            STATE.version = str(body.get("version", STATE.version))
            STATE.fail_next_run_job = int(body.get("fail_next_run_job", 0))
        else:
            self._send(404, {"error": "unknown admin path"})
            return
        self._send(200, {"ok": True})

    def _openapi(self, path: str, query: str, raw: bytes) -> None:
        if not path.startswith("/openApi/"):
            self._send(404, {"status": 404, "error": "Not Found", "path": path})
            return
        name = path.removeprefix("/openApi")
        legacy = STATE.version.startswith("4.")
        if name == "/authApp" and legacy:
            self._send(404, {"status": 404, "error": "Not Found", "path": path})
            return
        headers: dict[str, str] = {}
        if name not in ("/assert", "/authApp") and not legacy:
            if STATE.auth_enabled:
                problem = self._auth_problem()
                if problem is not None:
                    self._send(200, problem, {"X-POWERJOB-AUTH-PASSED": "false"})
                    return
            headers["X-POWERJOB-AUTH-PASSED"] = "true"
        try:
            data = self._route(name, query, raw)
            if name == "/runJob" and STATE.fail_next_run_job:
                status, STATE.fail_next_run_job = STATE.fail_next_run_job, 0
                self._send(status, {"status": status, "error": "Bad Gateway"})
                return
        except Failure as exc:
            self._send(200, {"success": False, "code": exc.code, "data": None, "message": exc.text}, headers)
            return
        self._send(200, {"success": True, "code": None, "data": data, "message": None}, headers)

    def _auth_problem(self) -> dict[str, Any] | None:
        def fail(code: str, message: str) -> dict[str, Any]:
            return {"success": False, "code": code, "data": None, "message": message}

        app_id = self.headers.get("X-POWERJOB-APP-ID")
        token = self.headers.get("X-POWERJOB-ACCESS-TOKEN")
        if not app_id:
            return fail("-300", "INVALID_REQUEST:lack_of_appId_in_header")
        if not token:
            return fail("-1002", "OPEN_API_AUTH_FAILED:token_is_empty")
        claims = STATE.tokens.get(token)
        if claims is None:
            return fail("-401", "INVALID_TOKEN:JWT signature does not match locally computed signature.")
        if app_id != str(claims["appId"]):
            return fail("-300", "INVALID_REQUEST:Inconsistent_appId_from_token_and_header")
        return None

    def _form(self, query: str, raw: bytes) -> dict[str, str]:
        # Spring binds simple parameters from the query string and from a urlencoded body, never from JSON.
        values = {k: v[0] for k, v in parse_qs(query).items()}
        if (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            values.update({k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()})
        return values

    def _json_body(self, raw: bytes) -> Any:
        content_type = self.headers.get("Content-Type") or ""
        if not content_type.startswith("application/json"):
            raise Failure(
                "HttpMediaTypeNotSupportedException", f"Content type '{content_type or 'null'}' not supported"
            )
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise Failure("HttpMessageNotReadableException", f"JSON parse error: {exc}") from None

    def _route(self, name: str, query: str, raw: bytes) -> Any:
        if name == "/authApp":
            body = self._json_body(raw)
            app_id = _assert_app(body.get("appName"), body.get("encryptedPassword"), body.get("encryptType"))
            token = secrets.token_urlsafe(24)
            STATE.tokens[token] = {"appId": app_id}
            return {"appId": app_id, "token": token, "extra": None}
        if name in ("/queryInstance",):
            return self._query_instance(self._json_body(raw))
        form = self._form(query, raw)
        if name == "/assert":
            return _assert_app(form.get("appName"), form.get("password"), None)
        if name == "/fetchAllJob":
            app_id = _long(form, "appId")
            return [{"id": jid, "jobName": j["jobName"], "appId": j["appId"]} for jid, j in STATE.jobs.items()
                    if j["appId"] == app_id]  # fmt: skip
        if name == "/runJob":
            return self._run_job(form)
        if name in ("/fetchInstanceStatus", "/fetchInstanceInfo"):
            inst = _fetch_instance(_long(form, "instanceId"))
            _advance(inst)
            return inst["status"] if name == "/fetchInstanceStatus" else dict(inst)
        if name == "/stopInstance":
            inst = _check_instance(_long(form, "instanceId"), _long(form, "appId"))
            _advance(inst)
            if inst["status"] not in RUNNING:
                raise Failure("IllegalArgumentException", "can't stop finished instance!")
            inst.update(status=10, finishedTime=_now_ms(), result="stopped by user")
            return None
        if name == "/cancelInstance":
            inst = _check_instance(_long(form, "instanceId"), _long(form, "appId"))
            _advance(inst)
            if inst["status"] != 1:
                raise Failure("PowerJobException", "instance already up and running")
            inst.update(status=9, result="canceled by user")
            return None
        raise Failure("HttpRequestMethodNotSupportedException", f"no handler for {name} in this stand-in")

    def _run_job(self, form: dict[str, str]) -> int:
        app_id, job_id = _long(form, "appId"), _long(form, "jobId")
        _check_job(job_id, app_id)
        delay = max(_long(form, "delay") or 0, 0)
        instance_id = STATE.next_instance
        STATE.next_instance += 1
        now = _now_ms()
        STATE.instances[instance_id] = {
            "jobId": job_id,
            "appId": app_id,
            "instanceId": instance_id,
            "wfInstanceId": None,
            "jobParams": STATE.jobs[job_id].get("jobParams"),  # type: ignore[index]
            "instanceParams": form.get("instanceParams"),
            "status": 1,
            "type": 1,
            "result": None,
            "expectedTriggerTime": now + delay,
            "actualTriggerTime": None,
            "finishedTime": None,
            "taskTrackerAddress": None,
            "runningTimes": 0,
            "gmtCreate": now,
            "gmtModified": now,
            "delay": delay,
        }
        return instance_id

    def _query_instance(self, body: Any) -> Any:
        if STATE.version.startswith("4.") or STATE.version < "5.1.1":
            raise Failure(
                "HttpMessageNotReadableException",
                "JSON parse error: Cannot construct instance of `tech.powerjob.common.PowerQuery` "
                "(no Creators, like default constructors, exist): abstract types either need to be mapped to "
                "concrete types, have custom deserializer, or contain additional type information",
            )
        items = []
        for inst in STATE.instances.values():
            _advance(inst)
            if body.get("appIdEq") is not None and inst["appId"] != body["appIdEq"]:
                continue
            if body.get("jobIdEq") is not None and inst["jobId"] != body["jobIdEq"]:
                continue
            if body.get("instanceIdGt") is not None and not inst["instanceId"] > int(body["instanceIdGt"]):
                continue
            if body.get("instanceIdLt") is not None and not inst["instanceId"] < int(body["instanceIdLt"]):
                continue
            if body.get("statusIn") is not None and inst["status"] not in body["statusIn"]:
                continue
            if body.get("gmtCreateGt") is not None and not inst["gmtCreate"] > int(body["gmtCreateGt"]):
                continue
            if body.get("gmtModifiedGt") is not None and not inst["gmtModified"] > int(body["gmtModifiedGt"]):
                continue
            items.append(inst)
        if body.get("sortBy"):  # QueryConvertUtils.toPageable drops `asc`: always ascending
            key = "instanceId" if body["sortBy"] in ("id", "instanceId") else body["sortBy"]
            items.sort(key=lambda i: i[key])
        index, size = int(body.get("index", 0)), int(body.get("pageSize", 10))
        total_pages = (len(items) + size - 1) // size
        return {
            "index": index,
            "pageSize": size,
            "totalPages": total_pages,
            "totalItems": len(items),
            "data": items[index * size : (index + 1) * size],
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(args.port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
