"""One HTTP session per platform: timeouts, TLS, bounded retries with jitter, redacted debug logs."""

from __future__ import annotations

import contextlib
import json as jsonlib
import random
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from trigger_schedule import __version__, telemetry
from trigger_schedule.backoff import Backoff, parse_retry_after
from trigger_schedule.clock import Clock
from trigger_schedule.errors import AuthError, PlatformError, RejectedError, UnreachableError
from trigger_schedule.retrying import (
    Retrying,
    stop_after_attempt,
    stop_before_deadline,
    wait_backoff,
    wait_retry_after,
)
from trigger_schedule.secrets import MASK, REDACTOR

# The deadline every request of the current trigger must end by, whatever its call site passes (status reads,
# logs, lookups, cancels, logins, the gate): set around a trigger's lifecycle, per thread.
_AMBIENT_DEADLINE: ContextVar[float | None] = ContextVar("trigger_schedule_deadline", default=None)


@contextlib.contextmanager
def bounded_by(deadline: float | None) -> Iterator[None]:
    """Every request sent in this block, retries included, ends by `deadline` (a `clock.monotonic()` value)."""
    token = _AMBIENT_DEADLINE.set(deadline)
    try:
        yield
    finally:
        _AMBIENT_DEADLINE.reset(token)


def _effective_deadline(deadline: float | None) -> float | None:
    ambient = _AMBIENT_DEADLINE.get()
    if ambient is None:
        return deadline
    return ambient if deadline is None else min(deadline, ambient)


USER_AGENT = f"trigger-schedule/{__version__}"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_SENSITIVE_HEADER = re.compile(r"auth|token|cookie|signature|secret|key|password", re.IGNORECASE)
_BODY_EXCERPT = 300


@dataclass(frozen=True)
class TlsOptions:
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class HttpOptions:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.5, cap=8.0))
    tls: TlsOptions = field(default_factory=TlsOptions)
    headers: Mapping[str, str] = field(default_factory=dict)


# Connections kept open per host: every thread of a plan (start, poll and stream workers) can hold one.
POOL_SIZE = 48


class _PlanAuth(requests.auth.AuthBase):
    """Credentials come from the plan's `auth:` only (as headers). Set on the session, it keeps requests
    from reading ~/.netrc on every request, which could also replace those headers."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def _pooled_session() -> requests.Session:
    session = requests.Session()
    session.auth = _PlanAuth()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HttpClient:
    def __init__(
        self,
        options: HttpOptions,
        clock: Clock,
        *,
        debug: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.options = options
        self.clock = clock
        self._debug = debug
        self.session = session or _pooled_session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(options.headers)
        tls = options.tls
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify.
        self._verify: bool | str = True
        if tls.insecure:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            if warn:
                warn("TLS verification is OFF (insecure: true): use ca-bundle for a private CA instead")
            self._verify = False
        elif tls.ca_bundle:
            self._verify = tls.ca_bundle
        self.session.verify = self._verify
        if tls.client_cert:
            self.session.cert = (tls.client_cert, tls.client_key) if tls.client_key else tls.client_cert
        self.calls = 0
        self._rng = random.Random()

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        deadline: float | None = None,
        raise_for_status: bool = True,
        stream: bool = False,
        read_timeout: float | None = None,
        secret_response: bool = False,
        retry_if: Callable[[requests.Response], bool] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """Send with retries; `deadline` is a `clock.monotonic()` value no retry may pass.

        A non-idempotent request (a trigger without an idempotency key) is retried only on 429,
        which promises it was not processed. `secret_response` keeps a successful answer (a login that
        returns a token) out of the --debug log, since the token is not known to the redactor yet.
        `retry_if` marks further answers as transient, for a platform that says so in its own way. `auth` is HTTP
        Basic for this request alone (an OAuth client), in place of the session's credential.
        """
        deadline = _effective_deadline(deadline)
        payload, send_headers = _encode(json, data, headers)
        # Within a trigger request: the W3C trace context, so the scheduler's side can join the trace.
        send_headers = {**telemetry.outgoing_headers(), **send_headers}
        response: requests.Response | None = None
        error: Exception | None = None
        transient = False
        retrying = self._retrying(method, url, deadline, lambda: f"{what}: {_describe(response, error)}")
        for state in retrying:
            self._log_request(method, url, send_headers, payload, params)
            response, error = self._send(
                method, url, what, payload, params, send_headers, deadline, read_timeout, stream, auth
            )
            transient = False
            if response is None:
                if not idempotent:
                    break
                continue
            self._log_response(response, stream, secret_response)
            transient = response.status_code in RETRY_STATUSES or bool(retry_if and retry_if(response))
            if not transient:
                if raise_for_status:
                    raise_for_response(response, what)
                return response
            if not idempotent and response.status_code != 429:
                break
            state.retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock.now())
        return self._gave_up(response, error, transient, what, url, retrying.state.attempt, raise_for_status)

    def _retrying(self, method: str, url: str, deadline: float | None, failure: Callable[[], str]) -> Retrying:
        """The attempts of one request: bounded by max-attempts and the deadline, `Retry-After` honoured."""
        return Retrying(
            stop=stop_after_attempt(self.options.max_attempts) | stop_before_deadline(deadline, self.clock),
            wait=wait_retry_after(wait_backoff(self.options.backoff, self._rng)),
            clock=self.clock,
            before_sleep=lambda state: self._before_retry(
                method, url, f"{failure()}; retry {state.attempt} in {state.next_wait:.1f}s"
            ),
        )

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        payload: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        deadline: float | None,
        read_timeout: float | None,
        stream: bool,
        auth: tuple[str, str] | None = None,
    ) -> tuple[requests.Response | None, Exception | None]:
        """One attempt: the answer, or the connection error to retry on; a TLS failure is final."""
        self.calls += 1
        try:
            response = self.session.request(
                method,
                url,
                data=payload,
                params=params,
                headers=dict(headers),
                timeout=self._timeout(deadline, read_timeout),
                allow_redirects=False,
                verify=self._verify,
                stream=stream,
                auth=auth,
            )
        except requests.exceptions.SSLError as exc:
            cause = _tls_cause(exc)
            wants_client_cert = "certificate required" in cause or "handshake failure" in cause
            raise UnreachableError(
                f"{what}: TLS failed for {_origin(url)}: {cause}",
                hint="the server wants a client certificate: set client-cert and client-key"
                if wants_client_cert
                else "set ca-bundle (TRIGGER_SCHEDULE_CA_BUNDLE) to your CA's PEM file",
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            telemetry.current().api_call(method, url, None)
            return None, exc
        telemetry.current().api_call(method, url, response.status_code)
        return response, None

    def _gave_up(
        self,
        response: requests.Response | None,
        error: Exception | None,
        transient: bool,
        what: str,
        url: str,
        attempts: int,
        raise_for_status: bool,
    ) -> requests.Response:
        if response is None:
            raise UnreachableError(
                f"{what}: cannot reach {_origin(url)} after {attempts} attempt(s): {_short(error)}",
                hint="check the platform url, that the scheduler is up, and HTTPS_PROXY/NO_PROXY",
            )
        if not raise_for_status:
            return response
        if transient:
            raise UnreachableError(
                f"{what}: {_origin(url)} answered HTTP {response.status_code} after "
                f"{attempts} attempt(s): {_excerpt(response)}",
                hint="the scheduler is overloaded or down; re-run the pipeline when it recovers",
                status_code=response.status_code,
            )
        raise_for_response(response, what)
        return response

    def _timeout(self, deadline: float | None, read_timeout: float | None = None) -> tuple[float, float]:
        connect, read = self.options.connect_timeout, read_timeout or self.options.read_timeout
        if deadline is not None:
            left = max(1.0, deadline - self.clock.monotonic())
            connect, read = min(connect, left), min(read, left)
        return connect, read

    def _before_retry(self, method: str, url: str, text: str) -> None:
        telemetry.current().api_retry(method, url)
        self._note(text)

    def _note(self, text: str) -> None:
        if self._debug:
            self._debug(text)

    def debug(self, text: str) -> None:
        """A line in the --debug log, for what a plug-in decides without failing (already redacted)."""
        self._note(REDACTOR.redact(text))

    def _log_request(
        self, method: str, url: str, headers: Mapping[str, str], body: Any, params: Mapping[str, Any] | None
    ) -> None:
        if not self._debug:
            return
        merged = {**self.session.headers, **headers}
        shown = {k: (MASK if _SENSITIVE_HEADER.search(k) else str(v)) for k, v in merged.items()}
        query = f" params={dict(params)}" if params else ""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ("" if body is None else str(body))
        self._debug(f"-> {method} {url}{query} headers={shown} body={REDACTOR.redact(text)[:2000]}")

    def _log_response(self, response: requests.Response, stream: bool = False, secret: bool = False) -> None:
        if self._debug:
            elapsed = response.elapsed.total_seconds() if response.elapsed else 0.0
            # A streamed body belongs to its reader: log only that it started.
            if secret and response.status_code < 400:
                body = "(not logged: it carries credentials)"
            elif stream and response.status_code < 400:
                body = "(streaming)"
            else:
                body = _excerpt(response)
            self._debug(f"<- HTTP {response.status_code} in {elapsed * 1000:.0f} ms: {body}")


def _encode(json: Any, data: Any, headers: Mapping[str, str] | None) -> tuple[Any, dict[str, str]]:
    """The body to send (JSON encoded compactly, else `data`) and the headers it needs."""
    send_headers = dict(headers or {})
    if json is None:
        return data, send_headers
    send_headers.setdefault("Content-Type", "application/json")
    return jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":")).encode(), send_headers


def json_body(response: requests.Response, what: str, *, hint: str) -> Any:
    """The answer's JSON; an answer that is not JSON (a web UI, a proxy page) names the call and `hint`."""
    try:
        return response.json()
    except ValueError:
        raise PlatformError(f"{what}: the answer (HTTP {response.status_code}) is not JSON", hint=hint) from None


def json_object(response: requests.Response, what: str, *, hint: str) -> dict[str, Any]:
    """The answer's JSON object; anything else names the call and `hint`."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise PlatformError(f"{what}: the answer (HTTP {response.status_code}) is not a JSON object", hint=hint)
    return document


def raise_for_response(response: requests.Response, what: str) -> None:
    """Map a final HTTP answer to the project's errors (and so to exit codes)."""
    status = response.status_code
    if status < 400:
        return
    origin = _origin(response.url or "")
    if status in (401, 403):
        # A refreshed OIDC credential names its audience and source (oidc.RefreshingCredential).
        hint = getattr(response.request, "credential_hint", None)
        raise AuthError(
            f"{what}: {origin} rejected the credentials (HTTP {status}): {_excerpt(response)}",
            hint=hint or "check the token (TRIGGER_SCHEDULE_TOKEN or the platform's auth) and its permissions",
            status_code=status,
        )
    if status < 500:
        raise RejectedError(
            f"{what}: {origin} rejected the request (HTTP {status}): {_excerpt(response)}",
            hint="check the job name and parameters against the scheduler",
            status_code=status,
        )
    raise UnreachableError(
        f"{what}: {origin} failed (HTTP {status}): {_excerpt(response)}",
        hint="the scheduler reported an internal error; see its logs",
        status_code=status,
    )


def _excerpt(response: requests.Response) -> str:
    try:
        text = response.text
    except Exception:  # a body that cannot be decoded still must not stop error reporting
        return "<unreadable body>"
    text = " ".join(text.split())
    if len(text) > _BODY_EXCERPT:
        text = text[:_BODY_EXCERPT] + "..."
    return REDACTOR.redact(text) or "<empty body>"


def _origin(url: str) -> str:
    match = re.match(r"^([a-z]+://[^/?#]+)", url)
    origin = match.group(1) if match else url
    # Never echo userinfo that someone put into a URL.
    return re.sub(r"//[^/@]*@", "//", origin)


def _tls_cause(exc: BaseException) -> str:
    """The SSL library's own reason (e.g. 'certificate verify failed: ...'), not urllib3's long wrapper."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            detail = getattr(current, "verify_message", None)
            if detail:
                return f"certificate verify failed: {detail}"
            return str(current.reason or current).lower().replace("_", " ")
        stack += [a for a in current.args if isinstance(a, BaseException)]
        stack += [
            c
            for c in (current.__cause__, current.__context__, getattr(current, "reason", None))
            if isinstance(c, BaseException)
        ]
    match = re.search(r"(certificate verify failed[^')\]]*|[a-z ]*certificate required|handshake failure)", str(exc))
    return match.group(1) if match else "TLS handshake failed"


def _short(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "reset" in text.lower() or "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection reset by peer"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    return REDACTOR.redact(text[:200])


def _describe(response: requests.Response | None, error: Exception | None) -> str:
    if response is not None:
        return f"HTTP {response.status_code}"
    return _short(error)
