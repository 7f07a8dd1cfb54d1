"""A fake job scheduler speaking trigger-schedule's generic scheduler contract, over real HTTP.

It implements the contract in the "generic scheduler contract" section of the repository README:
``POST {url}/v1/jobs/trigger`` with JSON ``{"jobName": ..., "parameters": {...}}`` and
``Authorization: Bearer <token>``, plus the project's defaults: run status, run lookup by
idempotency key, logs with offsets, cancellation, ``Idempotency-Key`` replay and optional HMAC
request signing, and OIDC bearer tokens: with ``oidc`` configured (``/_admin/config``), only an RS256 JWT signed by
a trusted issuer's JWKS, for the configured audience, unexpired, is accepted. ``/_admin`` endpoints (no auth) let
tests define jobs, inject faults, read
the recorded requests and reset state.

Standard library only, so it runs under any Python 3.9+:

    python tests/servers/generic_scheduler.py --host 127.0.0.1 --port 0 --port-file PATH
        [--token TOKEN] [--signing-secret SECRET]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt_rs256

DEFAULT_TOKEN = "test-token"
SIGNATURE_MAX_SKEW_S = 300
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_FAULT_DELAY_S = 30.0
# Short queued phase so clients can observe queued -> running -> terminal.
MAX_QUEUED_S = 0.1
FAULT_ENDPOINTS = ("trigger", "status", "batch-status", "logs", "cancel", "find")
# A batch status request may name this many runs.
MAX_BATCH_IDS = 1000


@dataclass(frozen=True)
class JobSpec:
    outcome: str
    duration_s: float
    status_word: Optional[str] = None

    @property
    def terminal_status(self) -> str:
        return self.status_word or self.outcome


BUILTIN_JOBS: dict[str, JobSpec] = {
    "data-sync-after-deployment": JobSpec("success", 0.6),
    "cache-refresh": JobSpec("success", 0.6),
    "data-validation": JobSpec("success", 0.6),
    "ok": JobSpec("success", 0.6),
    "fail": JobSpec("failed", 0.3),
    "slow": JobSpec("success", 3600.0),
    "instant": JobSpec("success", 0.0, status_word="succeeded"),
}


@dataclass
class Run:
    run_id: str
    job_name: str
    parameters: dict[str, Any]
    spec: JobSpec
    run_url: str
    created: float
    idempotency_key: Optional[str] = None
    cancelled_at: Optional[float] = None

    @property
    def queued_for(self) -> float:
        return min(MAX_QUEUED_S, self.spec.duration_s * 0.25)

    def status(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        elapsed = now - self.created
        if elapsed >= self.spec.duration_s:
            return self.spec.terminal_status
        if elapsed >= self.queued_for:
            return "running"
        return "queued"

    def is_terminal(self, now: float) -> bool:
        return self.status(now) not in ("queued", "running")

    def log_text(self, now: float) -> str:
        # Computed from the clock like the status, so no background thread is needed.
        until = now if self.cancelled_at is None else min(now, self.cancelled_at)
        lines: list[str] = []
        if until - self.created >= self.queued_for:
            lines.append(f"starting {self.job_name}")
            lines.append("parameters: " + json.dumps(self.parameters, sort_keys=True))
        if self.is_terminal(now):
            lines.append(f"finished: {self.status(now)}")
        return "".join(line + "\n" for line in lines)

    def view(self, now: float) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "jobName": self.job_name,
            "status": self.status(now),
            "runUrl": self.run_url,
            "parameters": self.parameters,
        }


@dataclass
class State:
    token: str
    signing_secret: Optional[str]
    initial_token: str
    initial_signing_secret: Optional[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, Run] = field(default_factory=dict)
    run_counter: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    custom_jobs: dict[str, JobSpec] = field(default_factory=dict)
    # The contract's optional parts, switchable per test: answering status requests with `wait=` only when
    # the state changes (long-poll), and a `Retry-After` poll hint on status answers.
    long_poll: bool = True
    status_retry_after: Optional[float] = None
    # The optional batch status endpoint (`GET /v1/jobs/runs?ids=...`); off, `ids` is ignored as by a server
    # that predates it (the request is then a run lookup without its key: 400).
    batch_status: bool = True
    # OIDC: {"issuers": [...], "audience": ...}; why each refused token was refused.
    oidc: Optional[dict[str, Any]] = None
    oidc_rejections: list[str] = field(default_factory=list)
    jwks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def reset(self) -> None:
        with self.lock:
            self.runs.clear()
            self.run_counter = 0
            self.requests.clear()
            self.faults.clear()
            self.custom_jobs.clear()
            # Restored too, so a test that changed credentials cannot leak them into the next one.
            self.token = self.initial_token
            self.signing_secret = self.initial_signing_secret
            self.long_poll = True
            self.status_retry_after = None
            self.batch_status = True
            self.oidc = None
            self.oidc_rejections.clear()
            self.jwks.clear()

    def job(self, name: str) -> Optional[JobSpec]:
        return self.custom_jobs.get(name) or BUILTIN_JOBS.get(name)


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: Optional[dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def classify(method: str, path: str, query: Optional[dict[str, str]] = None) -> Optional[str]:
    """Name the contract endpoint a request targets, as used by fault injection and the request log."""
    parts = path.split("/")
    if path == "/v1/jobs/trigger":
        return "trigger" if method == "POST" else None
    if path == "/v1/jobs/runs":
        if method != "GET":
            return None
        return "batch-status" if "ids" in (query or {}) else "find"
    if len(parts) == 5 and parts[:4] == ["", "v1", "jobs", "runs"] and parts[4]:
        return "status" if method == "GET" else None
    if len(parts) == 6 and parts[:4] == ["", "v1", "jobs", "runs"] and parts[4]:
        if parts[5] == "logs" and method == "GET":
            return "logs"
        if parts[5] == "cancel" and method == "POST":
            return "cancel"
    return None


def validate_fault(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise HttpError(400, "each fault response must be an object")
    delay = entry.get("delay_s", 0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= MAX_FAULT_DELAY_S:
        raise HttpError(400, f"delay_s must be a number between 0 and {MAX_FAULT_DELAY_S}")
    if entry.get("reset") is True:
        return entry
    status = entry.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise HttpError(400, "a fault response needs an integer 'status' (100-599) or 'reset': true")
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise HttpError(400, "fault 'headers' must map strings to strings")
    return entry


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GenericScheduler/1.0"
    # Idle keep-alive connections must not pin handler threads forever.
    timeout = 30
    server: SchedulerServer

    # -- plumbing -------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise HttpError(400, "invalid Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise HttpError(413, "request body too large")
        return self.rfile.read(length)

    def read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for _ in range(100_000):  # bounded: MAX_BODY_BYTES stops it far earlier in practice
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpError(400, "invalid chunked encoding") from None
            if size == 0:
                for _ in range(100):  # trailers, ended by an empty line
                    if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise HttpError(413, "request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(16)
        raise HttpError(400, "too many chunks")

    def send_json(self, status: int, payload: Any, headers: Optional[dict[str, str]] = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def reset_connection(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean HTTP response.
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

    def dispatch(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            body = self.read_body()
        except HttpError as err:
            self.close_connection = True
            self.send_json(err.status, {"error": err.message}, err.headers)
            return
        state = self.server.state
        endpoint = classify(self.command, path, query)
        if endpoint == "batch-status" and not state.batch_status:
            endpoint = "find"

        if not (path.startswith("/_admin") or path == "/healthz"):
            with state.lock:
                state.requests.append(
                    {
                        "method": self.command,
                        "path": path,
                        "query": query,
                        "headers": dict(self.headers.items()),
                        # surrogateescape keeps non-UTF-8 bodies byte-exact (re-encode the same way)
                        "body": body.decode("utf-8", "surrogateescape"),
                        "endpoint": endpoint,
                        "time": time.time(),
                    }
                )

        fault: Optional[dict[str, Any]] = None
        if endpoint is not None:
            with state.lock:
                queue = state.faults.get(endpoint)
                if queue:
                    fault = queue.pop(0)
        if fault is not None:
            self.apply_fault(fault)
            return

        try:
            if path == "/healthz" and self.command == "GET":
                self.send_json(200, {"ok": True})
            elif path.startswith("/_admin"):
                self.handle_admin(path, body)
            elif path.startswith("/v1/"):
                self.handle_v1(endpoint, path, query, body)
            else:
                raise HttpError(404, f"no such endpoint: {self.command} {path}")
        except HttpError as err:
            self.send_json(err.status, {"error": err.message}, err.headers)

    def apply_fault(self, fault: dict[str, Any]) -> None:
        delay = float(fault.get("delay_s", 0))
        if delay > 0:
            time.sleep(delay)
        if fault.get("reset") is True:
            self.reset_connection()
            return
        headers = dict(fault.get("headers", {}))
        if "retry_after" in fault:
            headers["Retry-After"] = str(fault["retry_after"])
        payload = fault.get("body", {"error": f"injected fault: HTTP {fault['status']}"})
        self.send_json(int(fault["status"]), payload, headers)

    # -- contract -------------------------------------------------------------------------

    def check_auth(self) -> None:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        presented = presented.strip()
        challenge = {"WWW-Authenticate": 'Bearer realm="generic-scheduler"'}
        if scheme.lower() != "bearer" or not presented:
            raise HttpError(401, "missing or malformed Authorization header (want: Bearer <token>)", challenge)
        with state.lock:
            expected = state.token
            oidc = state.oidc
        if oidc is not None:
            self.check_jwt(presented, oidc, challenge)
            return
        if not hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8")):
            raise HttpError(403, "token is not allowed to use this scheduler")

    def check_jwt(self, token: str, oidc: dict[str, Any], challenge: dict[str, str]) -> None:
        """What a scheduler must verify of an OIDC token: signature (the issuer's JWKS), iss, aud, exp."""
        state = self.server.state
        issuer = jwt_rs256.unverified_claims(token).get("iss")
        try:
            if issuer not in oidc["issuers"]:
                raise jwt_rs256.InvalidToken(f"issuer {issuer!r} is not trusted")
            try:
                jwt_rs256.verify(token, self.jwks(issuer), issuers=oidc["issuers"], audience=oidc["audience"])
            except jwt_rs256.InvalidToken as first:
                if "no key" not in str(first):
                    raise
                jwt_rs256.verify(
                    token, self.jwks(issuer, fresh=True), issuers=oidc["issuers"], audience=oidc["audience"]
                )
        except jwt_rs256.InvalidToken as exc:
            with state.lock:
                state.oidc_rejections.append(str(exc))
            raise HttpError(401, f"invalid OIDC token: {exc}", challenge) from None

    def jwks(self, issuer: str, fresh: bool = False) -> dict[str, Any]:
        state = self.server.state
        with state.lock:
            cached = state.jwks.get(issuer)
        if cached is not None and not fresh:
            return cached
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=5) as response:
            jwks_uri = json.loads(response.read())["jwks_uri"]
        with urllib.request.urlopen(jwks_uri, timeout=5) as response:
            keys: dict[str, Any] = json.loads(response.read())
        with state.lock:
            state.jwks[issuer] = keys
        return keys

    def check_signature(self, body: bytes) -> None:
        with self.server.state.lock:
            secret = self.server.state.signing_secret
        if secret is None:
            return
        raw_ts = self.headers.get("X-Trigger-Schedule-Timestamp")
        raw_sig = self.headers.get("X-Trigger-Schedule-Signature")
        if not raw_ts or not raw_sig:
            raise HttpError(401, "missing X-Trigger-Schedule-Timestamp or X-Trigger-Schedule-Signature")
        try:
            timestamp = int(raw_ts.strip())
        except ValueError:
            raise HttpError(401, "X-Trigger-Schedule-Timestamp must be integer unix seconds") from None
        if abs(time.time() - timestamp) > SIGNATURE_MAX_SKEW_S:
            raise HttpError(401, "stale X-Trigger-Schedule-Timestamp (more than 300 s from server time)")
        expected = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        presented = raw_sig.strip()
        if not presented.startswith("sha256="):
            raise HttpError(401, "X-Trigger-Schedule-Signature must look like sha256=<hex>")
        if not hmac.compare_digest(presented[len("sha256=") :].lower().encode(), expected.encode()):
            raise HttpError(401, "invalid X-Trigger-Schedule-Signature")

    def handle_v1(self, endpoint: Optional[str], path: str, query: dict[str, str], body: bytes) -> None:
        if endpoint is None:
            raise HttpError(404, f"no such endpoint: {self.command} {path}")
        self.check_auth()
        parts = path.split("/")
        if endpoint == "trigger":
            self.trigger(body)
        elif endpoint == "find":
            self.find(query)
        elif endpoint == "batch-status":
            self.batch_status(query)
        elif endpoint == "status":
            self.status(unquote(parts[4]), query)
        elif endpoint == "logs":
            self.logs(unquote(parts[4]), query)
        elif endpoint == "cancel":
            self.cancel(unquote(parts[4]))

    def status(self, run_id: str, query: dict[str, str]) -> None:
        """The run's view; with `wait=<seconds>` (long-poll), held until its status differs from `state` or the
        wait ends, and then marked with a `Long-Poll` header. A server without long-poll ignores `wait`."""
        state = self.server.state
        view = self.lookup(run_id, lambda run, now: run.view(now))
        headers: dict[str, str] = {}
        wait = _seconds(query.get("wait"))
        if state.long_poll and wait is not None:
            until = time.monotonic() + min(wait, 60.0)
            while (
                not self.lookup(run_id, lambda run, now: run.is_terminal(now))
                and view.get("status") == query.get("state", view.get("status"))
                and time.monotonic() < until
            ):
                time.sleep(0.05)
                view = self.lookup(run_id, lambda run, now: run.view(now))
            headers["Long-Poll"] = f"{min(wait, 60.0):g}"
        if state.status_retry_after is not None:
            headers["Retry-After"] = f"{state.status_retry_after:g}"
        self.send_json(200, view, headers)

    def batch_status(self, query: dict[str, str]) -> None:
        """The views of the runs in `ids` (comma-separated; unknown ids are left out); with `wait=<seconds>`
        (long-poll), held until one of them has ended or the wait ends, and then marked `Long-Poll`."""
        ids = [run_id for run_id in query["ids"].split(",") if run_id]
        if not ids or len(ids) > MAX_BATCH_IDS:
            raise HttpError(400, f"'ids' must name 1 to {MAX_BATCH_IDS} runs, comma-separated")
        state = self.server.state
        views, ended = self.views_of(ids)
        headers: dict[str, str] = {}
        wait = _seconds(query.get("wait"))
        if state.long_poll and wait is not None:
            until = time.monotonic() + min(wait, 60.0)
            while not ended and time.monotonic() < until:
                time.sleep(0.05)
                views, ended = self.views_of(ids)
            headers["Long-Poll"] = f"{min(wait, 60.0):g}"
        if state.status_retry_after is not None:
            headers["Retry-After"] = f"{state.status_retry_after:g}"
        self.send_json(200, {"runs": views}, headers)

    def views_of(self, ids: list[str]) -> tuple[list[dict[str, Any]], bool]:
        """The known runs' views, and whether any of them has ended."""
        state = self.server.state
        with state.lock:
            now = time.monotonic()
            runs = [state.runs[run_id] for run_id in ids if run_id in state.runs]
            return [run.view(now) for run in runs], any(run.is_terminal(now) for run in runs)

    def lookup(self, run_id: str, render: Callable[[Run, float], Any]) -> Any:
        state = self.server.state
        with state.lock:
            run = state.runs.get(run_id)
            if run is None:
                raise HttpError(404, f"unknown run {run_id!r}")
            return render(run, time.monotonic())

    def trigger(self, body: bytes) -> None:
        self.check_signature(body)
        content_type = self.headers.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise HttpError(415, f"Content-Type must be application/json, got {content_type!r}")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise HttpError(400, f"request body is not valid JSON: {err}") from None
        if not isinstance(payload, dict):
            raise HttpError(400, "request body must be a JSON object")
        job_name = payload.get("jobName")
        parameters = payload.get("parameters")
        if not isinstance(job_name, str) or not job_name:
            raise HttpError(400, "'jobName' must be a non-empty string")
        if not isinstance(parameters, dict):
            raise HttpError(400, "'parameters' must be a JSON object")
        key = self.headers.get("Idempotency-Key")
        state = self.server.state
        with state.lock:
            now = time.monotonic()
            if key is not None:
                for run in state.runs.values():
                    if run.idempotency_key == key:
                        self.send_json(200, run.view(now), {"Idempotent-Replayed": "true"})
                        return
            spec = state.job(job_name)
            if spec is None:
                raise HttpError(404, f"unknown job {job_name!r}")
            state.run_counter += 1
            run_id = f"run-{state.run_counter}"
            run = Run(
                run_id=run_id,
                job_name=job_name,
                parameters=parameters,
                spec=spec,
                run_url=f"{self.server.base_url}/ui/runs/{run_id}",
                created=now,
                idempotency_key=key,
            )
            state.runs[run_id] = run
        self.send_json(201, {"runId": run_id, "status": "queued", "runUrl": run.run_url})

    def find(self, query: dict[str, str]) -> None:
        key, job = query.get("idempotencyKey"), query.get("jobName")
        if key is None and job is None:
            raise HttpError(400, "query parameter 'idempotencyKey' or 'jobName' is required")
        active_only = query.get("active") == "true"
        state = self.server.state
        with state.lock:
            now = time.monotonic()
            runs = [
                run.view(now)
                for run in state.runs.values()
                if (key is None or run.idempotency_key == key)
                and (job is None or run.job_name == job)
                and not (active_only and run.is_terminal(now))
            ]
        self.send_json(200, {"runs": runs})

    def logs(self, run_id: str, query: dict[str, str]) -> None:
        raw_offset = query.get("offset", "0")
        try:
            offset = int(raw_offset)
        except ValueError:
            raise HttpError(400, f"offset must be a non-negative integer, got {raw_offset!r}") from None
        if offset < 0:
            raise HttpError(400, f"offset must be a non-negative integer, got {raw_offset!r}")
        text = self.lookup(run_id, lambda run, now: run.log_text(now))
        self.send_json(200, {"content": text[offset:], "nextOffset": max(offset, len(text))})

    def cancel(self, run_id: str) -> None:
        state = self.server.state
        with state.lock:
            run = state.runs.get(run_id)
            if run is None:
                raise HttpError(404, f"unknown run {run_id!r}")
            now = time.monotonic()
            if run.is_terminal(now):
                raise HttpError(409, f"run {run_id} is already {run.status(now)}")
            run.cancelled_at = now
        self.send_json(202, {"runId": run_id, "status": "cancelled"})

    # -- admin ----------------------------------------------------------------------------

    def admin_json(self, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, ValueError) as err:
            raise HttpError(400, f"admin body is not valid JSON: {err}") from None
        if not isinstance(payload, dict):
            raise HttpError(400, "admin body must be a JSON object")
        return payload

    def handle_admin(self, path: str, body: bytes) -> None:
        state = self.server.state
        route = (self.command, path)
        if route == ("GET", "/_admin/requests"):
            with state.lock:
                self.send_json(200, {"requests": list(state.requests)})
        elif route == ("POST", "/_admin/reset"):
            state.reset()
            self.send_json(200, {"ok": True})
        elif route == ("POST", "/_admin/jobs"):
            self.define_job(self.admin_json(body))
        elif route == ("POST", "/_admin/faults"):
            self.add_faults(self.admin_json(body))
        elif route == ("GET", "/_admin/faults"):
            with state.lock:
                self.send_json(200, {"faults": {k: list(v) for k, v in state.faults.items()}})
        elif route == ("GET", "/_admin/oidc"):
            with state.lock:
                self.send_json(200, {"rejections": list(state.oidc_rejections)})
        elif route == ("POST", "/_admin/config"):
            self.configure(self.admin_json(body))
        else:
            raise HttpError(404, f"no such admin endpoint: {self.command} {path}")

    def define_job(self, payload: dict[str, Any]) -> None:
        name = payload.get("name")
        outcome = payload.get("outcome")
        duration = payload.get("duration_s")
        status_word = payload.get("status_word")
        if not isinstance(name, str) or not name:
            raise HttpError(400, "'name' must be a non-empty string")
        if not isinstance(outcome, str) or not outcome:
            raise HttpError(400, "'outcome' must be a non-empty string")
        if not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration < 0:
            raise HttpError(400, "'duration_s' must be a non-negative number")
        if status_word is not None and (not isinstance(status_word, str) or not status_word):
            raise HttpError(400, "'status_word' must be a non-empty string or null")
        spec = JobSpec(outcome=outcome, duration_s=float(duration), status_word=status_word)
        with self.server.state.lock:
            self.server.state.custom_jobs[name] = spec
        self.send_json(200, {"name": name, "terminalStatus": spec.terminal_status})

    def add_faults(self, payload: dict[str, Any]) -> None:
        endpoint = payload.get("endpoint")
        responses = payload.get("responses")
        if endpoint not in FAULT_ENDPOINTS:
            raise HttpError(400, f"'endpoint' must be one of {', '.join(FAULT_ENDPOINTS)}")
        if not isinstance(responses, list):
            raise HttpError(400, "'responses' must be a list")
        checked = [validate_fault(entry) for entry in responses]
        with self.server.state.lock:
            queue = self.server.state.faults.setdefault(endpoint, [])
            queue.extend(checked)
            pending = len(queue)
        self.send_json(200, {"endpoint": endpoint, "pending": pending})

    def configure(self, payload: dict[str, Any]) -> None:
        state = self.server.state
        if "token" in payload and (not isinstance(payload["token"], str) or not payload["token"]):
            raise HttpError(400, "'token' must be a non-empty string")
        secret = payload.get("signing_secret")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise HttpError(400, "'signing_secret' must be a non-empty string or null")
        with state.lock:
            if "token" in payload:
                state.token = payload["token"]
            if "signing_secret" in payload:
                state.signing_secret = secret
            if "long_poll" in payload:
                state.long_poll = bool(payload["long_poll"])
            if "status_retry_after" in payload:
                state.status_retry_after = payload["status_retry_after"]
            if "batch_status" in payload:
                state.batch_status = bool(payload["batch_status"])
            if "oidc" in payload:
                state.oidc = payload["oidc"]
            signing = state.signing_secret is not None
        self.send_json(200, {"ok": True, "signing": signing})


def _seconds(text: Optional[str]) -> Optional[float]:
    """`30s` or `30` as seconds; anything else as absent."""
    if not text:
        return None
    try:
        return max(0.0, float(text[:-1] if text.endswith("s") else text))
    except ValueError:
        return None


class SchedulerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: State, verbose: bool = False) -> None:
        super().__init__(address, Handler)
        self.state = state
        self.verbose = verbose
        self.port = int(self.server_address[1])
        self.base_url = f"http://{address[0]}:{self.port}"


def write_port_file(path: str, port: int) -> None:
    # Write then rename, so a reader polling the file never sees a partial port number.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(tmp, path)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here (atomically)")
    parser.add_argument("--token", default=os.environ.get("GENERIC_SCHEDULER_TOKEN") or DEFAULT_TOKEN)
    parser.add_argument("--signing-secret", default=None)
    parser.add_argument(
        "--max-lifetime",
        type=float,
        default=6 * 3600,
        help="exit after this many seconds, so a server orphaned by a crashed test run does not linger",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    state = State(
        token=args.token,
        signing_secret=args.signing_secret,
        initial_token=args.token,
        initial_signing_secret=args.signing_secret,
    )
    server = SchedulerServer((args.host, args.port), state, verbose=args.verbose)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if args.port_file:
        write_port_file(args.port_file, server.port)
    print(f"listening on {server.base_url}", file=sys.stderr, flush=True)

    parent = os.getppid()
    deadline = time.monotonic() + args.max_lifetime
    # Short waits keep signal handling prompt; the deadline bounds the loop.
    while not stop.wait(0.5):
        if time.monotonic() >= deadline or os.getppid() != parent:
            break
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
