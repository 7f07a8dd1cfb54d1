"""Prefect's event stream: a websocket that pushes a flow run's state changes as they happen.

The protocol follows PrefectHQ/prefect 3.8 (src/prefect/events/clients.py, PrefectEventSubscriber;
src/prefect/server/api/events.py, stream_workspace_events_out; src/prefect/server/utilities/
subscriptions.py, accept_prefect_socket): connect to `<api>/events/out` with the subprotocol
`prefect`, send `{"type": "auth", "token": ...}` (the Cloud API key, or the self-hosted
PREFECT_API_AUTH_STRING), read `{"type": "auth_success"}`, send `{"type": "filter", "filter":
EventFilter}`, then read `{"type": "event", "event": {...}}` messages.

Every failure here is an UnreachableError: the caller falls back to polling, which reports auth and
other problems with the REST API's own, clearer errors.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from datetime import datetime, timedelta, timezone
from typing import Any

from trigger_schedule.errors import UnreachableError
from trigger_schedule.http import TlsOptions

# `occurred.until` must lie ahead of every event of the wait; a day outlasts any CI job.
_HORIZON = timedelta(days=1)


def socket_url(api: str) -> str:
    """`<api>/events/out` with the scheme switched, as Prefect's events_out_socket_from_api_url does."""
    if api.startswith("https://"):
        return "wss://" + api[len("https://") :] + "/events/out"
    if api.startswith("http://"):
        return "ws://" + api[len("http://") :] + "/events/out"
    raise UnreachableError(f"no websocket for the API URL {api}")


def flow_run_filter(run_id: str, now: datetime | None = None) -> dict[str, Any]:
    """An EventFilter (src/prefect/server/events/filters.py) for one flow run's events from now on."""
    since = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "occurred": {"since": since.isoformat(), "until": (since + _HORIZON).isoformat()},
        "event": {"prefix": ["prefect.flow-run."]},
        "resource": {"id": [f"prefect.flow-run.{run_id}"]},
    }


def ssl_context(tls: TlsOptions) -> ssl.SSLContext:
    """The verification the REST calls use: the CA bundle (or certifi's, as requests does), mTLS, insecure."""
    if tls.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        import certifi

        context = ssl.create_default_context(cafile=tls.ca_bundle or certifi.where())
    if tls.client_cert:
        context.load_cert_chain(tls.client_cert, tls.client_key)
    return context


class FlowRunEvents:
    """A subscription to one flow run's events; `next_state()` returns a state change or None on a quiet spell."""

    def __init__(self, connection: Any, run_id: str, closing: contextlib.ExitStack) -> None:
        self._connection = connection
        self._resource = f"prefect.flow-run.{run_id}"
        self._closing = closing

    @classmethod
    def open(
        cls, api: str, run_id: str, *, token: str | None, tls: TlsOptions, user_agent: str, timeout: float
    ) -> FlowRunEvents:
        try:
            from websockets.exceptions import WebSocketException
            from websockets.sync.client import connect
            from websockets.typing import Subprotocol
        except ImportError:
            raise UnreachableError("the websockets package is not installed") from None
        url = socket_url(api)
        closing = contextlib.ExitStack()
        try:
            connection = closing.enter_context(
                connect(
                    url,
                    subprotocols=[Subprotocol("prefect")],
                    ssl=ssl_context(tls) if url.startswith("wss://") else None,
                    user_agent_header=user_agent,
                    open_timeout=timeout,
                    close_timeout=1,
                )
            )
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise UnreachableError(f"cannot open Prefect's event stream ({type(exc).__name__})") from None
        events = cls(connection, run_id, closing)
        try:
            connection.send(json.dumps({"type": "auth", "token": token}))
            reply = events._receive(timeout)
            if not reply or reply.get("type") != "auth_success":
                raise UnreachableError("Prefect's event stream did not accept the credentials")
            connection.send(json.dumps({"type": "filter", "filter": flow_run_filter(run_id), "backfill": False}))
        except BaseException:
            events.close()
            raise
        return events

    def next_state(self, timeout: float) -> tuple[str, str] | None:
        """The run's next state change as (state type, state name), or None after `timeout` s without one.

        State events (`prefect.flow-run.<State name>`) label the run's resource with its new state;
        other events of the run, such as heartbeats, carry no state and are skipped.
        """
        message = self._receive(timeout)
        if not message or message.get("type") != "event":
            return None
        resource = (message.get("event") or {}).get("resource") or {}
        if resource.get("prefect.resource.id") != self._resource or not resource.get("prefect.state-type"):
            return None
        return str(resource["prefect.state-type"]).upper(), str(resource.get("prefect.state-name") or "")

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        from websockets.exceptions import WebSocketException

        try:
            text = self._connection.recv(timeout=timeout)
        except TimeoutError:
            return None
        except (OSError, WebSocketException) as exc:
            # A closed stream (the server restarting, a proxy timing out) hands over to polling.
            raise UnreachableError(f"Prefect's event stream closed ({type(exc).__name__})") from None
        try:
            message = json.loads(text)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket has nothing left to report
            self._closing.close()
