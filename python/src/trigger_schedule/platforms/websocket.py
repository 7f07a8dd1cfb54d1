"""A JSON websocket for platforms that push run updates, opened with the REST calls' TLS settings.

Every failure is an UnreachableError: the caller falls back to polling, which reports auth and other
problems with the REST API's own, clearer errors. `websockets` reads HTTPS_PROXY/NO_PROXY itself.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from typing import Any

from trigger_schedule.errors import UnreachableError
from trigger_schedule.http import USER_AGENT, TlsOptions


def socket_url(http_url: str) -> str:
    """The websocket URL for an http(s) URL."""
    for scheme, socket_scheme in (("https://", "wss://"), ("http://", "ws://")):
        if http_url.startswith(scheme):
            return socket_scheme + http_url[len(scheme) :]
    raise UnreachableError(f"no websocket for the URL {http_url}")


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


class JsonSocket:
    """One open websocket that sends and receives JSON objects."""

    def __init__(self, connection: Any, closing: contextlib.ExitStack, what: str) -> None:
        self._connection = connection
        self._closing = closing
        self.what = what

    @classmethod
    def open(
        cls,
        url: str,
        *,
        what: str,
        subprotocol: str,
        tls: TlsOptions,
        timeout: float,
        headers: dict[str, str] | None = None,
    ) -> JsonSocket:
        try:
            from websockets.exceptions import WebSocketException
            from websockets.sync.client import connect
            from websockets.typing import Subprotocol
        except ImportError:
            raise UnreachableError(f"{what}: the websockets package is not installed") from None
        closing = contextlib.ExitStack()
        try:
            connection = closing.enter_context(
                connect(
                    url,
                    subprotocols=[Subprotocol(subprotocol)],
                    ssl=ssl_context(tls) if url.startswith("wss://") else None,
                    additional_headers=headers,
                    user_agent_header=USER_AGENT,
                    open_timeout=timeout,
                    close_timeout=1,
                )
            )
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise UnreachableError(f"cannot open {what} ({type(exc).__name__})") from None
        return cls(connection, closing, what)

    def send(self, message: dict[str, Any]) -> None:
        from websockets.exceptions import WebSocketException

        try:
            self._connection.send(json.dumps(message))
        except (OSError, WebSocketException) as exc:
            raise UnreachableError(f"{self.what} closed ({type(exc).__name__})") from None

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON object, or None when nothing (or no object) arrived within `timeout` s."""
        from websockets.exceptions import WebSocketException

        try:
            text = self._connection.recv(timeout=timeout)
        except TimeoutError:
            return None
        except (OSError, WebSocketException) as exc:
            # A closed stream (the server restarting, a proxy timing out) hands over to polling.
            raise UnreachableError(f"{self.what} closed ({type(exc).__name__})") from None
        try:
            message = json.loads(text)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken socket has nothing left to report
            self._closing.close()
