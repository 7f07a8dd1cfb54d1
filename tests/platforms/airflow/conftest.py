"""Session fixtures: one real Airflow 3 (API v2) and one real Airflow 2 (API v1), each started once.

Both start at the same time (in threads), since each takes tens of seconds to migrate, start and parse
the test DAGs; a test asks for `airflow` and is run against each version.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_harness import TEST_DAGS, AirflowServer

EXAMPLE_DAGS = Path(__file__).resolve().parents[3] / "examples" / "dags"
TEST_DAG_IDS = ["ts_success", "ts_fail", "ts_slow", "data_sync_after_deployment", "cache_refresh", "data_validation"]
MAJORS = (3, 2)


class _Servers:
    """Starts both servers in the background; `get` waits for one, and re-raises its start failure."""

    def __init__(self, record_dir: Path, dags_folder: Path) -> None:
        self.servers: dict[int, AirflowServer] = {}
        self.errors: dict[int, BaseException] = {}
        self.threads = {
            m: threading.Thread(target=self._start, args=(m, record_dir, dags_folder), daemon=True) for m in MAJORS
        }
        for thread in self.threads.values():
            thread.start()

    def _start(self, major: int, record_dir: Path, dags_folder: Path) -> None:
        try:
            extra_env = {"TS_AIRFLOW_RECORD_DIR": str(record_dir)}
            server = AirflowServer.start(major, dags_folder=dags_folder, extra_env=extra_env)
            self.servers[major] = server
            server.wait_for_dags(TEST_DAG_IDS)
        except BaseException as exc:  # reported to the test that asks for this server
            self.errors[major] = exc

    def get(self, major: int) -> AirflowServer:
        self.threads[major].join(timeout=600)
        if major in self.errors:
            raise RuntimeError(f"Airflow {major} did not start: {self.errors[major]}") from self.errors[major]
        return self.servers[major]

    def stop(self) -> None:
        for thread in self.threads.values():
            thread.join(timeout=600)
        for server in self.servers.values():
            server.signal_stop()  # both at once: each takes seconds to shut down
        for server in self.servers.values():
            server.wait_stopped()


@pytest.fixture(scope="session")
def airflow_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Servers]:
    # The test DAGs and the example plan's DAGs (examples/dags), so the example runs on both versions too.
    dags_folder = tmp_path_factory.mktemp("airflow-dags")
    for source in [*TEST_DAGS.glob("*.py"), *EXAMPLE_DAGS.glob("*.py")]:
        shutil.copy(source, dags_folder / source.name)
    servers = _Servers(tmp_path_factory.mktemp("airflow-records"), dags_folder)
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(params=MAJORS, ids=lambda m: f"airflow{m}")
def airflow(request: pytest.FixtureRequest, airflow_servers: _Servers) -> AirflowServer:
    return airflow_servers.get(int(request.param))


@pytest.fixture
def airflow3(airflow_servers: _Servers) -> AirflowServer:
    return airflow_servers.get(3)


@pytest.fixture
def airflow2(airflow_servers: _Servers) -> AirflowServer:
    return airflow_servers.get(2)
