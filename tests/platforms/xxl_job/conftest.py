"""One stand-in XXL-JOB admin (standin.py) for the session; each test starts from a reset state, once per admin
version the stand-in answers as (with the plug-in's api-version for it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers.admin import admin_call
from servers.processes import serving

STANDIN = Path(__file__).with_name("standin.py")


ADMINS = [("2.4.2", 2), ("3.2.0", 3), ("3.3.0", 3)]


class XxlAdmin:
    def __init__(self, base: str) -> None:
        self.base = base
        self.url = f"{base}/xxl-job-admin"
        self.version, self.api_version = ADMINS[0]

    def admin(self, method: str, route: str, payload: Any = None) -> Any:
        return admin_call(self.base, method, route, payload)

    def job(self, job_id: int, **spec: Any) -> None:
        self.admin("POST", "jobs", {"id": job_id, **spec})

    def logs(self) -> list[dict[str, Any]]:
        return self.admin("GET", "logs")  # type: ignore[no-any-return]

    def requests(self) -> list[dict[str, Any]]:
        return self.admin("GET", "requests")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def xxl_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XxlAdmin]:
    port_file = tmp_path_factory.mktemp("xxl") / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        yield XxlAdmin(f"http://127.0.0.1:{ports[0]}")


@pytest.fixture(params=ADMINS, ids=[version for version, _ in ADMINS])
def xxl(xxl_session: XxlAdmin, request: pytest.FixtureRequest) -> XxlAdmin:
    xxl_session.admin("POST", "reset", {})
    xxl_session.version, xxl_session.api_version = request.param
    xxl_session.admin("POST", "config", {"version": xxl_session.version})
    return xxl_session
