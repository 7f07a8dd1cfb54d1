"""Session fixtures: one real Dagster (dagster_server.py) and a token-checking proxy in front of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from cli_runner import TOKEN
from dagster_server import HOST, Dagster, TokenProxy, TokenProxyHandler, start_dagster


@pytest.fixture(scope="session")
def dagster() -> Iterator[Dagster]:
    try:
        server = start_dagster()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token_proxy_session(dagster: Dagster) -> Iterator[TokenProxy]:
    """A proxy in front of the real Dagster that checks the Dagster+ token header (OSS has no auth)."""
    state: dict[str, int] = {}
    handler = type("Proxy", (TokenProxyHandler,), {"upstream": dagster.url, "token": TOKEN, "state": state})
    server = ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield TokenProxy(f"http://{HOST}:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def token_proxy(token_proxy_session: TokenProxy) -> TokenProxy:
    token_proxy_session.reset()
    return token_proxy_session
