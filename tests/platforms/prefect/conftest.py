"""One real Prefect 3 server (and a process serving the test flows) for the whole test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect_server import PrefectServer


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    server = PrefectServer.start()
    try:
        yield server
    finally:
        server.stop()
