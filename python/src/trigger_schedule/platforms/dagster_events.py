"""Dagster's run event subscription: the webserver pushes a run's events as they are stored.

The protocol is subscriptions-transport-ws (subprotocol `graphql-ws`) at `{url}/graphql`, as
dagster-webserver 1.13.27 speaks it (dagster_webserver/graphql.py, graphql_ws_endpoint):
`connection_init` → `connection_ack`; `start` with the subscription → `data` messages (and `ka`
keep-alives); `error` or `complete` ends it. The subscription is `pipelineRunLogs` with the cursor
`HEAD`, which sends only events stored from now on (dagster_graphql/implementation/execution/
__init__.py, gen_events_for_run). Its payload's `run` is loaded once when the subscription starts, so
the events' types, not `run.status`, say what happened.
"""

from __future__ import annotations

from trigger_schedule.errors import UnreachableError
from trigger_schedule.http import TlsOptions
from trigger_schedule.platforms.websocket import JsonSocket, socket_url

WHAT = "Dagster's event subscription"
SUBSCRIPTION = (
    "subscription TriggerScheduleRunEvents($runId: ID!, $cursor: String) { "
    "pipelineRunLogs(runId: $runId, cursor: $cursor) { __typename "
    "... on PipelineRunLogsSubscriptionSuccess { messages { __typename } } "
    "... on PipelineRunLogsSubscriptionFailure { message } } }"
)
# Run lifecycle events (dagster_graphql/schema/logs/events.py) after which the run's state is final.
RUN_END_EVENTS = frozenset({"RunSuccessEvent", "RunFailureEvent", "RunCanceledEvent"})
_OPERATION = "1"


class RunEvents:
    """One run's events; `next_events()` returns the event types of the next batch, None on a quiet spell."""

    def __init__(self, socket: JsonSocket) -> None:
        self._socket = socket

    @classmethod
    def open(
        cls, graphql_url: str, run_id: str, *, headers: dict[str, str], tls: TlsOptions, timeout: float
    ) -> RunEvents:
        socket = JsonSocket.open(
            socket_url(graphql_url), what=WHAT, subprotocol="graphql-ws", tls=tls, timeout=timeout, headers=headers
        )
        try:
            socket.send({"type": "connection_init", "payload": {}})
            for _ in range(10):  # keep-alives may come first
                reply = socket.receive(timeout)
                if reply is None or reply.get("type") != "ka":
                    break
            if not reply or reply.get("type") != "connection_ack":
                raise UnreachableError(f"{WHAT}: the server did not acknowledge the connection")
            variables = {"runId": run_id, "cursor": "HEAD"}
            socket.send({"id": _OPERATION, "type": "start", "payload": {"query": SUBSCRIPTION, "variables": variables}})
        except BaseException:
            socket.close()
            raise
        return cls(socket)

    def next_events(self, timeout: float) -> list[str] | None:
        """The `__typename`s of the next batch of the run's events, or None after `timeout` s without one."""
        message = self._socket.receive(timeout)
        if not message or message.get("type") == "ka":
            return None
        kind = message.get("type")
        if kind in ("error", "complete", "connection_error"):
            raise UnreachableError(f"{WHAT} ended ({kind})")
        if kind != "data":
            return None
        payload = message.get("payload") or {}
        result = (payload.get("data") or {}).get("pipelineRunLogs") or {}
        if payload.get("errors") or result.get("__typename") != "PipelineRunLogsSubscriptionSuccess":
            raise UnreachableError(f"{WHAT} failed: {result.get('message') or 'GraphQL errors'}")
        return [str(m.get("__typename")) for m in result.get("messages") or [] if isinstance(m, dict)]

    def close(self) -> None:
        self._socket.close()
