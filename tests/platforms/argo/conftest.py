"""One stand-in Argo Server (standin.py) for the whole session; each test starts from a reset state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argo_standin_client import Argo
from servers.processes import serving

STANDIN = Path(__file__).with_name("standin.py")


@pytest.fixture(scope="session")
def argo_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Argo]:
    port_file = tmp_path_factory.mktemp("argo") / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        yield Argo(f"http://127.0.0.1:{ports[0]}")


@pytest.fixture
def argo(argo_session: Argo) -> Argo:
    argo_session.admin("POST", "reset", {})
    return argo_session
