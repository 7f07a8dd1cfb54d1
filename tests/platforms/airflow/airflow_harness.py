"""Start, query and stop real Airflow servers (3.x: API v2, 2.x: API v1) on 127.0.0.1 for tests and benches.

How each is run follows ../shared/PLATFORMS.md: Airflow 3 as api-server + scheduler + dag-processor with the
LocalExecutor (parallelism 4) and the simple auth manager (admin:admin); Airflow 2 as webserver + scheduler
with the basic_auth API backend (SequentialExecutor on SQLite). The venvs come from scripts/tools/airflow.sh.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import requests

ROOT = Path(__file__).resolve().parents[3]
SERVERS = ROOT / ".tools" / "servers"
TEST_DAGS = Path(__file__).resolve().parent / "dags"
HOST = "127.0.0.1"
USERNAME = PASSWORD = "admin"
MIGRATE_TIMEOUT_S = 300.0
HEALTH_TIMEOUT_S = 120.0
DAGS_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class AirflowServer:
    """One running Airflow, its processes in their own process groups, stopped by PID."""

    def __init__(self, major: int, home: Path, port: int, env: dict[str, str]) -> None:
        self.major = major
        self.home = home
        self.port = port
        self.env = env
        self.url = f"http://{HOST}:{port}"
        self.api = f"{self.url}/api/v{2 if major == 3 else 1}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.session = requests.Session()
        self._token: Optional[str] = None

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(
        cls, major: int, dags_folder: Path = TEST_DAGS, extra_env: Optional[dict[str, str]] = None
    ) -> AirflowServer:
        venv = SERVERS / f"airflow{major}" / "venv"
        if not (venv / "bin" / "airflow").exists():
            raise RuntimeError(f"no Airflow {major} venv at {venv}: run scripts/tools/airflow.sh first")
        home = Path(tempfile.mkdtemp(prefix=f"airflow{major}-"))
        port = _free_port()
        env = cls._environment(major, home, port, venv, dags_folder)
        env.update(extra_env or {})
        server = cls(major, home, port, env)
        try:
            server._run(["airflow", "db", "migrate"], "migrate", MIGRATE_TIMEOUT_S)
            if major == 3:
                server._spawn(["airflow", "api-server", "-H", HOST, "-p", str(port), "-w", "1"], "api-server")
                server._spawn(["airflow", "scheduler", "--skip-serve-logs"], "scheduler")
                server._spawn(["airflow", "dag-processor"], "dag-processor")
            else:
                user = ["-u", USERNAME, "-p", PASSWORD, "-r", "Admin", "-f", "a", "-l", "b", "-e", "a@b.c"]
                server._run(["airflow", "users", "create", *user], "users", 120)
                server._spawn(["airflow", "webserver", "-H", HOST, "-p", str(port), "-w", "1"], "webserver")
                server._spawn(["airflow", "scheduler", "--skip-serve-logs"], "scheduler")
            server._wait_healthy()
        except BaseException:
            server.stop()
            raise
        return server

    @staticmethod
    def _environment(major: int, home: Path, port: int, venv: Path, dags_folder: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHON"))}
        env.update(
            {
                "HOME": str(home),
                "AIRFLOW_HOME": str(home),
                "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
            }
        )
        if major == 3:
            passwords = home / "passwords.json"
            passwords.write_text(json.dumps({USERNAME: PASSWORD}), encoding="utf-8")
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__CORE__PARALLELISM": "4",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
                    "AIRFLOW__API__HOST": HOST,
                    "AIRFLOW__API__PORT": str(port),
                    "AIRFLOW__API_AUTH__JWT_SECRET": "trigger-schedule-tests-jwt-secret-" + "0123456789abcdef" * 4,
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                }
            )
        else:
            env.update(
                {
                    "AIRFLOW__API__AUTH_BACKENDS": (
                        "airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session"
                    ),
                    "AIRFLOW__WEBSERVER__SECRET_KEY": "trigger-schedule-tests-secret-key",
                    "AIRFLOW__WEBSERVER__WORKERS": "1",
                    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
                }
            )
        return env

    def _log(self, name: str) -> Any:
        return open(self.home / f"{name}.log", "ab")

    def _run(self, command: list[str], name: str, timeout: float) -> None:
        with self._log(name) as log:
            done = subprocess.run(
                command, env=self.env, cwd=self.home, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=timeout
            )
        if done.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{self.tail(name)}")

    def _spawn(self, command: list[str], name: str) -> None:
        with self._log(name) as log:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own group: stopping it also stops its workers
            )
        self.processes.append(process)

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.home / f"{name}.log"
        if not path.exists():
            return f"<no {name}.log>"
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def _wait_healthy(self) -> None:
        health = f"{self.api}/monitor/health" if self.major == 3 else f"{self.url}/health"
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"an Airflow process exited ({process.args}):\n{self.tail('api-server')}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(health, timeout=5).status_code == 200:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"Airflow {self.major} was not healthy within {HEALTH_TIMEOUT_S:.0f}s at {health}")

    def wait_for_dags(self, dag_ids: list[str], timeout: float = DAGS_TIMEOUT_S) -> None:
        """Until the API lists every DAG (parsing takes a while after start)."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException, ValueError):
                listed = self.request("GET", "/dags", params={"limit": 100}).json().get("dags", [])
                missing = set(dag_ids) - {d["dag_id"] for d in listed}
                if not missing:
                    return
            time.sleep(1)
        raise RuntimeError(f"Airflow {self.major} did not list the DAGs {sorted(missing)} within {timeout:.0f}s")

    def stop(self) -> None:
        self.signal_stop()
        self.wait_stopped()

    def signal_stop(self) -> None:
        """SIGTERM to each process group (api server, scheduler and their workers); see wait_stopped."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGTERM)

    def wait_stopped(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.session.close()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- API, for checks made on the server ------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token", json={"username": USERNAME, "password": PASSWORD}, timeout=30
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self.major == 3:
            kwargs.setdefault("headers", {})["Authorization"] = f"Bearer {self.token()}"
        else:
            kwargs["auth"] = (USERNAME, PASSWORD)
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.api + path, **kwargs)

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        return dict(response.json())

    def list_runs(self, dag_id: str) -> list[dict[str, Any]]:
        response = self.request("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})
        response.raise_for_status()
        return list(response.json()["dag_runs"])

    def wait_run_state(self, dag_id: str, run_id: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run = self.get_run(dag_id, run_id)
        while run["state"] not in states and time.monotonic() < deadline:
            time.sleep(0.5)
            run = self.get_run(dag_id, run_id)
        return run

    def set_paused(self, dag_id: str, paused: bool) -> None:
        response = self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})
        response.raise_for_status()


def cli_args(server: AirflowServer, job: str, *extra: str) -> list[str]:
    """`trigger-schedule trigger` against `server` with basic credentials from env vars, short polls."""
    return [
        "trigger",
        "--platform",
        "airflow",
        "--url",
        server.url,
        "--job",
        job,
        "--auth-type",
        "basic",
        "--username-env",
        "AIRFLOW_USERNAME",
        "--password-env",
        "AIRFLOW_PASSWORD",
        "--poll-interval",
        "0.5s",
        "--poll-max-interval",
        "2s",
        *extra,
    ]


CREDENTIALS = {"AIRFLOW_USERNAME": USERNAME, "AIRFLOW_PASSWORD": PASSWORD}
