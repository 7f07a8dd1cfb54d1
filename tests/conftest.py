"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_runner import TOKEN
from servers.harness import GenericScheduler


@pytest.fixture(scope="session")
def generic_server_session() -> Iterator[GenericScheduler]:
    """One generic scheduler server (tests/servers/generic_scheduler.py) for the whole session."""
    server = GenericScheduler.start(token=TOKEN)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def generic_server(generic_server_session: GenericScheduler) -> Iterator[GenericScheduler]:
    """The session's generic scheduler, reset: no runs, requests, faults or custom jobs."""
    generic_server_session.reset()
    yield generic_server_session
