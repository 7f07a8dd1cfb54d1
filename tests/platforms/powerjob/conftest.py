"""One stand-in powerjob-server (standin.py) for the whole session; each test starts from a reset state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from powerjob_standin_client import PowerJob
from servers.processes import serving

STANDIN = Path(__file__).with_name("standin.py")


@pytest.fixture(scope="session")
def powerjob_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerJob]:
    port_file = tmp_path_factory.mktemp("powerjob") / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        yield PowerJob(f"http://127.0.0.1:{ports[0]}")


@pytest.fixture
def powerjob(powerjob_session: PowerJob) -> PowerJob:
    powerjob_session.admin("reset", {})
    return powerjob_session
