"""Start, query and stop a real Prefect 3 server plus a process serving the test flows (prefect_flows.py).

Used by this folder's conftest and by bench/bench_lag_prefect.py. Everything binds 127.0.0.1; analytics
and telemetry are off; every wait is bounded; processes are stopped by their own process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any, Optional

import requests

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".tools" / "servers" / "prefect" / "venv"
FLOWS = Path(__file__).with_name("prefect_flows.py")
HOST = "127.0.0.1"
USER, PASSWORD = "ci-user", "pw-5d1e-CANARY-prefect"
DEPLOYMENTS = ("record/ci", "fail/ci", "slow/ci")
HEALTH_TIMEOUT_S = 120.0  # ~7 s on an idle 2-core machine; other workers' tests share it
DEPLOYMENTS_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class PrefectServer:
    """A `prefect server start` with basic auth, and a `serve()` process running the test flows."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self.session = requests.Session()
        self.session.auth = (USER, PASSWORD)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    def base_env(self) -> dict[str, str]:
        """What both processes share: a private PREFECT_HOME, no analytics, nothing but 127.0.0.1."""
        keep = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "HOME": str(self.workdir),
                "PREFECT_HOME": str(self.workdir / "prefect-home"),
                "PREFECT_API_URL": self.api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
                "DO_NOT_TRACK": "1",
                "PREFECT_SERVER_UI_ENABLED": "false",
                "PREFECT_SERVER_API_HOST": HOST,
                "PREFECT_SERVER_API_PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(cls) -> PrefectServer:
        if not (VENV / "bin" / "prefect").exists():
            raise RuntimeError(f"no Prefect server venv at {VENV}: run scripts/tools/prefect.sh first")
        server = cls(Path(tempfile.mkdtemp(prefix="prefect-server-")), _free_port())
        try:
            server._start_server()
            server._start_flows()
        except BaseException:
            server.stop()
            raise
        return server

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "w+b")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        process = subprocess.Popen(
            command,
            env=env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches uvicorn and flow subprocesses
        )
        self.processes.append(process)
        return process

    def _start_server(self) -> None:
        env = {**self.base_env(), "PREFECT_SERVER_API_AUTH_STRING": f"{USER}:{PASSWORD}"}
        env["PREFECT_SERVER_LOGGING_LEVEL"] = "WARNING"
        command = [str(VENV / "bin" / "prefect"), "server", "start", "--host", HOST, "--port", str(self.port)]
        process = self._spawn("server", command, env)
        self._wait("the Prefect server's /api/health", HEALTH_TIMEOUT_S, process, self._healthy)

    def _start_flows(self) -> None:
        env = {**self.base_env(), "PREFECT_API_AUTH_STRING": f"{USER}:{PASSWORD}"}
        env["PREFECT_RUNNER_POLL_FREQUENCY"] = "1"  # pick up new runs within ~1 s (default 10 s)
        process = self._spawn("flows", [str(VENV / "bin" / "python"), str(FLOWS)], env)
        self._wait("the test deployments", DEPLOYMENTS_TIMEOUT_S, process, self._deployments_exist)

    def _wait(self, what: str, timeout: float, process: subprocess.Popen[bytes], ready: Any) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.25) + 1):
            if process.poll() is not None:
                raise RuntimeError(f"{what}: process exited with {process.returncode}\n{self.output()}")
            with contextlib.suppress(requests.RequestException):
                if ready():
                    return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{self.output()}")

    def _healthy(self) -> bool:
        return self.session.get(f"{self.api}/health", timeout=2).status_code == 200

    def _deployments_exist(self) -> bool:
        return all(
            self.session.get(f"{self.api}/deployments/name/{name}", timeout=5).status_code == 200
            for name in DEPLOYMENTS
        )

    def stop(self) -> None:
        """SIGTERM each process group (flows first), then SIGKILL what is left; safe to call twice."""
        for process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=STOP_TIMEOUT_S)
            # Flow-run subprocesses share the group and may outlive its leader.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for log in self._logs:
            log.close()
        self._logs.clear()
        self.session.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def output(self) -> str:
        """The tail of both processes' logs, for failure messages."""
        parts = []
        for name in ("server", "flows"):
            path = self.workdir / f"{name}.log"
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace")
                parts.append(f"--- {name}.log (tail)\n{text[-4000:]}")
        return "\n".join(parts)

    # -- API ------------------------------------------------------------------------------

    def get(self, path: str) -> Any:
        response = self.session.get(f"{self.api}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.session.post(f"{self.api}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def deployment_id(self, name: str) -> str:
        return str(self.get(f"/deployments/name/{name}")["id"])

    def flow_run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/flow_runs/{run_id}")
        return result

    def runs_of(self, deployment: str, tag: Optional[str] = None) -> list[dict[str, Any]]:
        """Flow runs of a deployment (`flow/name`), optionally only those carrying `tag`."""
        flow_runs: dict[str, Any] = {"deployment_id": {"any_": [self.deployment_id(deployment)]}}
        if tag is not None:
            flow_runs["tags"] = {"all_": [tag]}
        result: list[dict[str, Any]] = self.post("/flow_runs/filter", {"flow_runs": flow_runs, "limit": 200})
        return result

    def wait_for_state(self, run_id: str, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run = self.flow_run(run_id)
        for _ in range(int(timeout / 0.5) + 1):
            if run["state_type"] in states or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
            run = self.flow_run(run_id)
        return run
