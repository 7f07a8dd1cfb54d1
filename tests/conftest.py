"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_runner import TOKEN
from servers.harness import GenericScheduler
from servers.oidc_parts import CiIssuer, ci_issuer


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


@pytest.fixture(scope="session")
def ci_issuer_session() -> Iterator[CiIssuer]:
    """One test CI OIDC issuer (tests/servers/ci_issuer.py) for the whole session."""
    with ci_issuer() as issuer:
        yield issuer


@pytest.fixture
def issuer(ci_issuer_session: CiIssuer) -> CiIssuer:
    """The session's CI issuer, its tokens back to their default lifetimes."""
    ci_issuer_session.set_lifetime(300)
    return ci_issuer_session
