"""One stand-in DolphinScheduler api-server (standin.py) for the session; each test starts from a reset state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dolphin_standin_client import Dolphin
from servers.processes import serving

STANDIN = Path(__file__).with_name("standin.py")


@pytest.fixture(scope="session")
def dolphin_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dolphin]:
    port_file = tmp_path_factory.mktemp("dolphinscheduler") / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        yield Dolphin(f"http://127.0.0.1:{ports[0]}")


@pytest.fixture(params=["3.3", "3.2"])
def dolphin(request: pytest.FixtureRequest, dolphin_session: Dolphin) -> Dolphin:
    """The stand-in reset to one API version; tests using it run against both."""
    dolphin_session.admin("POST", "reset", {"api_version": request.param})
    dolphin_session.version = request.param
    return dolphin_session


@pytest.fixture
def dolphin33(dolphin_session: Dolphin) -> Dolphin:
    dolphin_session.admin("POST", "reset", {"api_version": "3.3"})
    dolphin_session.version = "3.3"
    return dolphin_session
