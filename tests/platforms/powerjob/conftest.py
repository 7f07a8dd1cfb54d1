"""Session fixtures: one real PowerJob 4.3.9 (powerjob_server.py), and the stand-in of 5.1.1 (standin.py).

The real server starts in a background thread as soon as collection has selected any test of this folder,
so it warms up while other tests run; `powerjob` waits for it with a bounded join. PowerJob 5.x cannot run
here (its server is not on Maven Central), so its login, token and query API are tested on the stand-in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import TOKEN
from powerjob_server import PowerJob, start_powerjob
from powerjob_standin_client import PowerJobStandin
from servers.processes import serving

HERE = Path(__file__).parent
STANDIN = HERE / "standin.py"
START_JOIN_S = 600.0


class _Starter:
    """Starts the real server in a thread; `get` waits for it and re-raises its start failure."""

    def __init__(self) -> None:
        self.server: PowerJob | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._start, name="powerjob-start", daemon=True)
        self.thread.start()

    def _start(self) -> None:
        try:
            self.server = start_powerjob(TOKEN)
        except BaseException as exc:  # reported to the first test that asks for the server
            self.error = exc

    def get(self) -> PowerJob:
        self.thread.join(timeout=START_JOIN_S)
        if self.server is None:
            raise RuntimeError(f"PowerJob did not start: {self.error or 'still starting'}")
        return self.server

    def stop(self) -> None:
        self.thread.join(timeout=START_JOIN_S)
        if self.server is not None:
            self.server.stop()


_starter: _Starter | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _starter
    wanted = any("powerjob" in getattr(item, "fixturenames", ()) for item in session.items)
    if wanted and _starter is None:
        _starter = _Starter()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _starter is not None:
        _starter.stop()


@pytest.fixture(scope="session")
def powerjob() -> PowerJob:
    if _starter is None:
        pytest.fail("the PowerJob server was not started (pytest_collection_finish saw no test needing it)")
    try:
        return _starter.get()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def standin_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerJobStandin]:
    port_file = tmp_path_factory.mktemp("powerjob-standin") / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        yield PowerJobStandin(f"http://127.0.0.1:{ports[0]}")


@pytest.fixture
def standin(standin_session: PowerJobStandin) -> PowerJobStandin:
    standin_session.admin("reset", {})
    return standin_session
