"""Start, query and stop a real Dagster 1.13.27 (`dagster dev` on 127.0.0.1) for the plug-in's tests and bench.

`dagster dev` binds its webserver to the host given and talks to its code server over a Unix socket
(checked: no other TCP listener). Dagster ignores SIGTERM sent to its process group, so teardown
signals every process of its tree by PID. TokenProxyHandler is a small proxy for the auth and
lost-answer tests: open-source Dagster has no auth, and never loses an answer on its own.
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
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".tools/servers/dagster/venv/bin"
DEFS = Path(__file__).with_name("defs.py")
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, found through /proc (bounded walk)."""
    tree, queue = [], [root]
    for _ in range(10_000):
        if not queue:
            break
        pid = queue.pop()
        tree.append(pid)
        queue.extend(_children(pid))
    return tree


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


def kill_tree(root: int) -> None:
    pids = process_tree(root)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        if not any(_alive(p) for p in pids):
            return


class Dagster:
    """A running `dagster dev` with defs.py (jobs record, fail, slow)."""

    location = "defs.py"

    def __init__(self, process: subprocess.Popen[bytes], port: int, home: Path) -> None:
        self.process, self.port, self.home = process, port, home

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url + "/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            document = json.loads(response.read())
        assert not document.get("errors"), document
        return document["data"]  # type: ignore[no-any-return]

    def runs(self, tags: dict[str, str] | None = None, job: str | None = None) -> list[dict[str, Any]]:
        run_filter: dict[str, Any] = {}
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if job:
            run_filter["pipelineName"] = job
        data = self.graphql(
            "query($f: RunsFilter) { runsOrError(filter: $f) { __typename ... on Runs { results "
            "{ runId jobName status startTime endTime tags { key value } } } } }",
            {"f": run_filter},
        )
        return data["runsOrError"]["results"]  # type: ignore[no-any-return]

    def run(self, run_id: str) -> dict[str, Any]:
        data = self.graphql(
            "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId status endTime "
            "tags { key value } } } }",
            {"id": run_id},
        )
        return data["runOrError"]  # type: ignore[no-any-return]

    def wait_status(self, run_id: str, wanted: set[str], timeout: float = 60.0) -> str:
        status = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.run(run_id).get("status", "")
            if status in wanted:
                return status
            time.sleep(0.3)
        return status

    def stop(self) -> None:
        """Signal every process of the tree by PID (Dagster ignores SIGTERM to its group)."""
        kill_tree(self.process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(self.home, ignore_errors=True)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.home / "dagster-dev.log").read_text(errors="replace")[-4000:]
        return ""


def _wait_ready(server: Dagster) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "not answering yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/server_info", timeout=5) as response:
                response.read()
            data = server.graphql(
                "{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { jobs { name } } } } }"
            )
            nodes = data["repositoriesOrError"].get("nodes") or []
            if any(j["name"] == "record" for n in nodes for j in n["jobs"]):
                return
            last = f"repository not loaded yet: {data}"
        except (OSError, AssertionError, KeyError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"dagster dev not ready after {STARTUP_TIMEOUT_S:.0f} s ({last}):\n{server.log()}")


def start_dagster() -> Dagster:
    """`dagster dev` with defs.py on a free port of 127.0.0.1, ready (repository loaded)."""
    if not (VENV_BIN / "dagster").exists():
        raise RuntimeError("Dagster is not installed: run scripts/tools/dagster.sh first")
    home = Path(tempfile.mkdtemp(prefix="dagster-home-"))
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "TRIGGER_SCHEDULE_"))},
        "DAGSTER_HOME": str(home),
        "HOME": str(home),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    with open(home / "dagster-dev.log", "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "dagster"), "dev", "-f", str(DEFS), "-h", HOST, "-p", str(port)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Dagster(process, port, home)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


class TokenProxyHandler(BaseHTTPRequestHandler):
    """Forwards to Dagster only with `Dagster-Cloud-Api-Token: TOKEN`, else 401, as Dagster+ does.

    `lost_launches` launch answers are dropped after Dagster handled them (answered 502 instead),
    as when a connection breaks after the server did the work.
    """

    upstream = ""
    token = ""
    state: dict[str, int] = {}

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.headers.get("Dagster-Cloud-Api-Token") != self.token:
            self._answer(401, b'{"error": "invalid token"}')
            return
        if b"TriggerScheduleLaunch" in body:
            self.state["launches"] = self.state.get("launches", 0) + 1
        request = urllib.request.Request(
            self.upstream + self.path, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, answer = err.code, err.read()
        if b"TriggerScheduleLaunch" in body and self.state.get("lost_launches", 0) > 0:
            self.state["lost_launches"] -= 1
            status, answer = 502, b"bad gateway"
        self._answer(status, answer)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TokenProxy:
    """A running TokenProxyHandler: its URL and the state the tests read and set."""

    def __init__(self, url: str, state: dict[str, int]) -> None:
        self.url, self.state = url, state

    def reset(self, lost_launches: int = 0) -> None:
        self.state.clear()
        self.state["lost_launches"] = lost_launches
