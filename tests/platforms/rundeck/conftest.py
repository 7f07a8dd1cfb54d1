"""One stand-in Rundeck (standin.py) for the whole session; each test starts from a reset state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rundeck_client import Rundeck
from servers.processes import serving

STANDIN = Path(__file__).with_name("standin.py")


@pytest.fixture(scope="session")
def rundeck_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rundeck]:
    port_file = tmp_path_factory.mktemp("rundeck") / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        yield Rundeck(f"http://127.0.0.1:{ports[0]}")


@pytest.fixture
def rundeck(rundeck_session: Rundeck) -> Rundeck:
    rundeck_session.admin("POST", "reset", {})
    return rundeck_session
