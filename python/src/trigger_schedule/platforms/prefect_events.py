"""Prefect's event stream: a websocket that pushes a flow run's state changes as they happen.

The protocol follows PrefectHQ/prefect 3.8 (src/prefect/events/clients.py, PrefectEventSubscriber;
src/prefect/server/api/events.py, stream_workspace_events_out; src/prefect/server/utilities/
subscriptions.py, accept_prefect_socket): connect to `<api>/events/out` with the subprotocol
`prefect`, send `{"type": "auth", "token": ...}` (the Cloud API key, or the self-hosted
PREFECT_API_AUTH_STRING), read `{"type": "auth_success"}`, send `{"type": "filter", "filter":
EventFilter}`, then read `{"type": "event", "event": {...}}` messages.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from trigger_schedule.errors import UnreachableError
from trigger_schedule.http import TlsOptions
from trigger_schedule.platforms.websocket import JsonSocket, socket_url

# `occurred.until` must lie ahead of every event of the wait; a day outlasts any CI job.
_HORIZON = timedelta(days=1)
WHAT = "Prefect's event stream"


def events_url(api: str) -> str:
    """`<api>/events/out` as a websocket URL, as Prefect's events_out_socket_from_api_url makes it."""
    return socket_url(api) + "/events/out"


def flow_run_filter(run_id: str, now: datetime | None = None) -> dict[str, Any]:
    """An EventFilter (src/prefect/server/events/filters.py) for one flow run's events from now on."""
    since = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "occurred": {"since": since.isoformat(), "until": (since + _HORIZON).isoformat()},
        "event": {"prefix": ["prefect.flow-run."]},
        "resource": {"id": [f"prefect.flow-run.{run_id}"]},
    }


class FlowRunEvents:
    """A subscription to one flow run's events; `next_state()` returns a state change or None on a quiet spell."""

    def __init__(self, socket: JsonSocket, run_id: str) -> None:
        self._socket = socket
        self._resource = f"prefect.flow-run.{run_id}"

    @classmethod
    def open(
        cls, api: str, run_id: str, *, token: str | None, tls: TlsOptions, timeout: float, now: datetime | None = None
    ) -> FlowRunEvents:
        socket = JsonSocket.open(events_url(api), what=WHAT, subprotocol="prefect", tls=tls, timeout=timeout)
        try:
            socket.send({"type": "auth", "token": token})
            reply = socket.receive(timeout)
            if not reply or reply.get("type") != "auth_success":
                raise UnreachableError(f"{WHAT} did not accept the credentials")
            socket.send({"type": "filter", "filter": flow_run_filter(run_id, now), "backfill": False})
        except BaseException:
            socket.close()
            raise
        return cls(socket, run_id)

    def next_state(self, timeout: float) -> tuple[str, str] | None:
        """The run's next state change as (state type, state name), or None after `timeout` s without one.

        State events (`prefect.flow-run.<State name>`) label the run's resource with its new state;
        other events of the run, such as heartbeats, carry no state and are skipped.
        """
        message = self._socket.receive(timeout)
        if not message or message.get("type") != "event":
            return None
        resource = (message.get("event") or {}).get("resource") or {}
        if resource.get("prefect.resource.id") != self._resource or not resource.get("prefect.state-type"):
            return None
        return str(resource["prefect.state-type"]).upper(), str(resource.get("prefect.state-name") or "")

    def close(self) -> None:
        self._socket.close()
