"""A stand-in Rundeck server (the Rundeck HTTP API, JSON) for tests: stdlib only, 127.0.0.1.

Follows rundeck/rundeck at main commit 2f047102d84eeec86b87e9444397df8e3ea51119 (version 6.2.0-SNAPSHOT,
API_CURRENT_VERSION 59, API_EARLIEST_VERSION 14):
- rundeckapp/grails-app/controllers/rundeckapp/UrlMappings.groovy: routes `/api/$v/job/$id/run` (and POST
  `/job/$id/executions`), GET `/job/$id/executions`, `/execution/$id`, `/execution/$id/output`,
  `/execution/$id/abort`;
- rundeckapp/grails-app/controllers/rundeck/controllers/ScheduledExecutionController.groovy apiJobRun: the JSON
  body `{argString, loglevel, asUser, filter, runAtTime, options}` is read only when the request is JSON;
  `options` (a map) is honoured from v18, `runAtTime` from v18; unknown job → 404 api.error.item.doesnotexist;
  errors 'invalid' → 400 api.error.job.options-invalid, 'failed' → 400 api.error.execution.failed,
  'conflict' → 409 api.error.execution.conflict; the answer is the execution (respondExecutionsJson single);
- rundeckapp/grails-app/services/rundeck/services/ExecutionService.groovy: filterOptParams keeps only String
  or list values (anything else is dropped), validateOptionValues (required; a list for a single-valued option
  is invalid), generateJobArgline keeps options the job does not define ("to preserve information"),
  createExecution's limit "Limit of running executions has been reached." → 'conflict', scheduleAdHocJob
  (status "scheduled" until runAtTime; a time in the past fails), parseRunAtTime's four ISO-8601 formats;
- grails-rundeck-data-shared/.../ExecutionConstants.groovy: status words;
- rundeckapp/grails-app/services/rundeck/services/ApiService.groovy renderExecutionsJson / renderErrorJson:
  execution fields and the error envelope `{error: true, apiversion, errorCode, message}`;
- ExecutionController.groovy apiExecutionOutput: `entries[].log`, `offset` (a string), `lastModified`,
  `completed`, `execCompleted`, `unmodified`; apiExecutionAbort: `{abort: {status, reason?}, execution}`;
- ApiVersionInterceptor.groovy: unsupported version → 400 api.error.api-version.unsupported.
Checked again at tag v5.17.0 (5.17.0-20251103) for the job's execution listing:
- ScheduledExecutionController.apiJobExecutionsResult: `max` absent → every execution (-1);
- ExecutionService.queryExecutions: `order('dateCompleted', 'desc')`, then `dateStarted` desc; on H2 (the
  embedded default; MySQL and SQL Server alike) NULL sorts low, so running and scheduled executions come
  after every completed one;
- ExecutionQuery.createCriteria: `status=running` is "not completed and not scheduled/queued",
  `status=scheduled` the status word;
- ApiService.renderExecutionsJson: `job.options` is OptionsParserUtil.parseOptsFromString(argString): strings,
  a multi-valued option's values joined with its delimiter (",").
Token auth: header `X-Rundeck-Auth-Token`; a bad token gets 403 (as the token filter answers API requests).

Admin (no auth): POST /_admin/jobs {id, name, outcome: succeeded|failed, duration, logs: [..],
options: [{name, required?, multivalued?}], multiple: bool}; GET /_admin/requests;
GET /_admin/executions; POST /_admin/history {job, durations: [..]} (finished executions in the past);
POST /_admin/reset; POST /_admin/faults {drop_next_run: true} (the next run
is created but its answer is lost: the connection closes unanswered).
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "tok-3f9a-CANARY-71c2e"
API_MIN, API_MAX = 14, 59
_RUN_AT_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.executions: dict[int, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.next_id = 1
        self.drop_next_run = False  # create the execution, then close the connection unanswered


STATE = State()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_run_at(text: str) -> float | None:
    """ExecutionService.parseRunAtTime: ISO-8601 with a zone (Z, +01:00 or +0100), optional milliseconds."""
    for fmt in _RUN_AT_FORMATS:
        try:
            return datetime.strptime(text.replace("Z", "+0000"), fmt).timestamp()
        except ValueError:
            continue
    return None


def _joined(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def _arg_line(options: dict[str, Any]) -> str:
    parts = []
    for key, value in options.items():
        text = _joined(value)
        parts.append(f"-{key} " + (f'"{text}"' if re.search(r"\s", text) or not text else text))
    return " ".join(parts)


# -- executions, their state computed when asked -----------------------------------------------


def _phase(execution: dict[str, Any], now: float) -> str:
    if execution["aborted_at"] is not None:
        return "aborted"
    if now < execution["start"]:
        return "scheduled"
    job = execution["job"]
    if now < execution["start"] + job["duration"]:
        return "running"
    return "succeeded" if job["outcome"] == "succeeded" else "failed"


def _end(execution: dict[str, Any]) -> float | None:
    status = _phase(execution, time.time())
    if status in ("scheduled", "running"):
        return None
    return execution["aborted_at"] or execution["start"] + execution["job"]["duration"]


def _execution_json(execution: dict[str, Any], base: str) -> dict[str, Any]:
    job = execution["job"]
    data: dict[str, Any] = {
        "id": execution["id"],
        "href": f"{base}/api/{API_MAX}/execution/{execution['id']}",
        "permalink": f"{base}/project/{job['project']}/execution/show/{execution['id']}",
        "status": _phase(execution, time.time()),
        "project": job["project"],
        "executionType": execution["type"],
        "user": "admin",
        "date-started": {"unixtime": int(execution["start"] * 1000), "date": _iso(execution["start"])},
        "job": {
            "id": job["id"],
            "name": job["name"],
            "group": "",
            "project": job["project"],
            "description": "",
            "href": f"{base}/api/{API_MAX}/job/{job['id']}",
            "permalink": f"{base}/project/{job['project']}/job/show/{job['id']}",
        },
        "description": job["name"],
        "argstring": execution["argstring"],
        "jobDeleted": False,
    }
    if execution["options"]:
        # parseOptsFromString(argString): what the argument line holds, as strings.
        data["job"]["options"] = {k: _joined(v) for k, v in execution["options"].items()}
    end = _end(execution)
    if end is not None:
        data["date-ended"] = {"unixtime": int(end * 1000), "date": _iso(end)}
    if execution["aborted_at"] is not None:
        data["abortedby"] = "admin"
    return data


def _log_lines(execution: dict[str, Any], now: float) -> list[str]:
    """Log lines appear one by one while the job runs; all of them once it has ended."""
    lines = list(execution["job"]["logs"])
    if _end(execution) is not None or not lines:
        return lines if execution["aborted_at"] is None else lines[: _shown(execution, execution["aborted_at"])]
    return lines[: _shown(execution, now)]


def _shown(execution: dict[str, Any], now: float) -> int:
    lines, duration = execution["job"]["logs"], execution["job"]["duration"]
    elapsed = now - execution["start"]
    if elapsed < 0:
        return 0
    return min(len(lines), int(elapsed / max(duration, 0.001) * (len(lines) + 1)))


# -- the API -------------------------------------------------------------------------------------


def run_job(version: int, job_id: str, body: dict[str, Any] | None, base: str) -> dict[str, Any]:
    job = STATE.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "api.error.item.doesnotexist", f"Job ID does not exist: {job_id}")
    data = body or {}
    raw_options = data.get("options") if version >= 18 else None
    options: dict[str, Any] = {}
    if isinstance(raw_options, dict):
        for key, value in raw_options.items():  # filterOptParams
            if isinstance(value, list):
                options[key] = [v for v in value if isinstance(v, str) and v]
            elif isinstance(value, str):
                options[key] = value
    _validate(job, options)
    run_at = data.get("runAtTime") if version > 17 else None
    now = time.time()
    start = now
    if run_at:
        parsed = _parse_run_at(str(run_at))
        if parsed is None:
            raise ApiError(
                400,
                "api.error.execution.failed",
                "Execution failed: Invalid date/time format, only ISO 8601 is supported",
            )
        if parsed < now:
            raise ApiError(
                400, "api.error.execution.failed", "Execution failed: A job cannot be scheduled for a time in the past"
            )
        start = parsed
    if not job["multiple"] and any(e["job"] is job and _phase(e, now) == "running" for e in STATE.executions.values()):
        raise ApiError(
            409,
            "api.error.execution.conflict",
            f'Execution had a conflict: Job "{job["name"]}" {{{{Job {job["id"]}}}}}: '
            "Limit of running executions has been reached.",
        )
    defined = [o["name"] for o in job["options"] if o["name"] in options]
    ordered = {k: options[k] for k in defined} | {k: options[k] for k in sorted(options) if k not in defined}
    execution = {
        "id": STATE.next_id,
        "job": job,
        "options": ordered,
        "argstring": _arg_line(ordered),
        "start": start,
        "aborted_at": None,
        "type": "user-scheduled" if run_at else "user",
        "loglevel": data.get("loglevel"),
    }
    STATE.next_id += 1
    STATE.executions[execution["id"]] = execution
    return _execution_json(execution, base)


def _validate(job: dict[str, Any], options: dict[str, Any]) -> None:
    problems = []
    for option in job["options"]:
        value = options.get(option["name"])
        if isinstance(value, list) and not option.get("multivalued"):
            problems.append(f"Option '{option['name']}' value: {value} does not allow multiple values.")
        elif option.get("required") and not value:
            problems.append(f"Option '{option['name']}' is required.")
    if problems:
        raise ApiError(400, "api.error.job.options-invalid", "Job options were not valid: " + "\n".join(problems))


def job_executions(job_id: str, query: dict[str, str], base: str) -> dict[str, Any]:
    if job_id not in STATE.jobs:
        raise ApiError(404, "api.error.item.doesnotexist", f"Job ID does not exist: {job_id}")
    now = time.time()
    found = [e for e in STATE.executions.values() if e["job"]["id"] == job_id]
    if query.get("status"):
        found = [e for e in found if _phase(e, now) == query["status"]]
    # order('dateCompleted', 'desc'), order('dateStarted', 'desc'); H2 sorts NULL low: unfinished ones last.
    found.sort(key=lambda e: (_end(e) or float("-inf"), e["start"]), reverse=True)
    total = len(found)
    limit = int(query.get("max") or -1)
    found = found[:limit] if limit > 0 else found
    return {
        "paging": {"count": len(found), "total": total, "offset": 0, "max": limit if limit > 0 else 20},
        "executions": [_execution_json(e, base) for e in found],
    }


def execution_of(exec_id: str) -> dict[str, Any]:
    execution = STATE.executions.get(int(exec_id)) if exec_id.isdigit() else None
    if execution is None:
        raise ApiError(404, "api.error.item.doesnotexist", f"Execution ID does not exist: {exec_id}")
    return execution


def output(execution: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    now = time.time()
    lines = _log_lines(execution, now)
    sizes = [len(line.encode()) + 1 for line in lines]
    total = sum(sizes)
    last_modified = int(
        (execution["start"] + execution["job"]["duration"] * len(lines) / (len(execution["job"]["logs"]) + 1)) * 1000
    )
    offset = int(query.get("offset") or 0)
    ended = _end(execution) is not None
    data: dict[str, Any] = {
        "id": str(execution["id"]),
        "execCompleted": ended,
        "execState": _phase(execution, now),
        "lastModified": str(last_modified),
        "totalSize": total,
    }
    lastmod = int(query.get("lastmod") or 0)
    if lastmod and lastmod >= last_modified and offset >= total:
        return data | {"offset": str(offset), "unmodified": True, "completed": ended, "entries": []}
    entries, position = [], 0
    for line, size in zip(lines, sizes, strict=True):
        if position >= offset:
            entries.append({"time": "00:00:00", "level": "NORMAL", "log": line, "node": "localhost"})
        position += size
    return data | {"offset": str(max(offset, total)), "completed": ended, "entries": entries}


def abort(execution: dict[str, Any], base: str) -> dict[str, Any]:
    if _end(execution) is not None:
        state: dict[str, Any] = {"status": "failed", "reason": "Job is not running"}
    else:
        execution["aborted_at"] = time.time()
        state = {"status": "aborted"}
    view = _execution_json(execution, base)
    return {"abort": state, "execution": {k: view[k] for k in ("id", "status", "href", "permalink")}}


# -- HTTP --------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, document: Any) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        raw = self._body()
        with STATE.lock:
            if parts.path.startswith("/_admin/"):
                self._admin(method, parts.path[len("/_admin/") :], raw)
                return
            STATE.requests.append(
                {
                    "method": method,
                    "path": parts.path,
                    "query": query,
                    "content_type": self.headers.get("Content-Type"),
                    "token": self.headers.get("X-Rundeck-Auth-Token"),
                    "authorization": self.headers.get("Authorization"),
                    "accept": self.headers.get("Accept"),
                    "body": raw.decode("utf-8", "replace"),
                }
            )
            try:
                answer = self._api(method, parts.path, query, raw)
                if STATE.drop_next_run and parts.path.endswith("/run"):
                    STATE.drop_next_run = False
                    self.close_connection = True
                    return
                self._send(200, answer)
            except ApiError as exc:
                self._send(
                    exc.status,
                    {"error": True, "apiversion": API_MAX, "errorCode": exc.code, "message": exc.message},
                )

    def _api(self, method: str, path: str, query: dict[str, str], raw: bytes) -> Any:
        match = re.fullmatch(r"/api/([^/]+)/(.+)", path)
        if not match:
            raise ApiError(404, "api.error.invalid.request", f"Invalid API Request: {path}")
        version_text, rest = match.groups()
        if not version_text.isdigit() or not API_MIN <= int(version_text) <= API_MAX:
            raise ApiError(
                400,
                "api.error.api-version.unsupported",
                f'Unsupported API Version "{version_text}". API Request: {path}. Reason: Current version: {API_MAX}',
            )
        if self.headers.get("X-Rundeck-Auth-Token") != TOKEN:
            raise ApiError(403, "unauthorized", f"(Token:****) is not authorized for: {path}")
        version, base = int(version_text), f"http://{self.headers.get('Host')}"
        route = [method, *rest.split("/")]
        if route[0] == "POST" and len(route) == 4 and route[1] == "job" and route[3] in ("run", "executions"):
            return run_job(version, route[2], self._json_body(raw), base)
        if route[0] == "GET" and len(route) == 4 and route[1] == "job" and route[3] == "executions":
            return job_executions(route[2], query, base)
        if route[1] == "execution" and len(route) >= 3:
            execution = execution_of(route[2])
            tail = route[3:]
            if method == "GET" and not tail:
                return _execution_json(execution, base)
            if method == "GET" and tail == ["output"]:
                return output(execution, query)
            if method == "POST" and tail == ["abort"]:
                return abort(execution, base)
        raise ApiError(404, "api.error.invalid.request", f"Invalid API Request: {method} {path}")

    def _json_body(self, raw: bytes) -> dict[str, Any] | None:
        """A body counts only when it is JSON (request.format == 'json'); otherwise query params are used."""
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            return None
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ApiError(
                400, "api.error.invalid.request", f"Invalid API Request: Failed to parse JSON request body: {exc}"
            ) from None
        return data if isinstance(data, dict) else {}

    def _admin(self, method: str, what: str, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        if what == "reset":
            STATE.reset()
            self._send(200, {"ok": True})
        elif what == "jobs" and method == "POST":
            job = {
                "project": "demo",
                "outcome": "succeeded",
                "duration": 1.0,
                "logs": [],
                "options": [],
                "multiple": True,
                **body,
            }
            STATE.jobs[job["id"]] = job
            self._send(200, {"ok": True})
        elif what == "history" and method == "POST":
            # Finished executions of a job in the past, one per duration: the history a long-lived server has.
            job, now = STATE.jobs[body["job"]], time.time()
            for index, duration in enumerate(body["durations"]):
                start = now - 3600 * (len(body["durations"]) - index) - float(duration)
                past = {**job, "duration": float(duration)}
                execution = {"id": STATE.next_id, "job": past, "options": {}, "argstring": "", "start": start,
                             "aborted_at": None, "type": "user", "loglevel": None}  # fmt: skip
                STATE.executions[STATE.next_id] = execution
                STATE.next_id += 1
            self._send(200, {"ok": True})
        elif what == "faults":
            STATE.drop_next_run = bool(body.get("drop_next_run"))
            self._send(200, {"ok": True})
        elif what == "requests":
            self._send(200, {"requests": STATE.requests})
        elif what == "executions":
            now = time.time()
            views = [
                {
                    "id": e["id"],
                    "job": e["job"]["id"],
                    "status": _phase(e, now),
                    "options": e["options"],
                    "argstring": e["argstring"],
                    "start": e["start"],
                    "created_by_request": True,
                }
                for e in STATE.executions.values()
            ]
            self._send(200, {"executions": views})
        else:
            self._send(404, {"error": f"no admin route {what}"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = Path(args.port_file + ".tmp")
    tmp.write_text(str(server.server_address[1]))
    tmp.rename(args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
