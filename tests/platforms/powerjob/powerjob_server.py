"""Start, query and stop a real PowerJob 4.3.9 (powerjob-server + one powerjob-worker) for the tests and bench.

Both come from Maven Central (scripts/tools/powerjob.sh). The server keeps its core database in H2 (MySQL
mode) under a temporary home, with MongoDB off; its three ports (HTTP API, HTTP and Akka transporters) and
the worker's port bind to 127.0.0.1 (`powerjob.network.local.address`, `server.address`). The worker is
TriggerScheduleTestWorker.java, compiled here, whose processors the jobs `echo`, `fail`, `slow` and `nap` name.
Teardown signals each JVM by PID: SIGTERM, then SIGKILL after a bound.
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
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TOOLS = ROOT / ".tools/servers/powerjob"
WORKER_SOURCE = Path(__file__).with_name("TriggerScheduleTestWorker.java")
VERSION = "4.3.9"
HOST = "127.0.0.1"
APP = "shop"
OTHER_APP = "billing"
STARTUP_TIMEOUT_S = 300.0
WORKER_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
# Small heaps and C1 only: two shared cores, and start-up time matters more than peak speed here.
JVM_FLAGS = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:ActiveProcessorCount=2", "-Xss512k"]
JOBS = {  # name: (processor class, jobParams)
    "echo": ("TriggerScheduleTestWorker$Echo", ""),
    "fail": ("TriggerScheduleTestWorker$Fail", ""),
    "slow": ("TriggerScheduleTestWorker$Slow", "300"),
    "nap": ("TriggerScheduleTestWorker$Nap", ""),  # for the bench
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


class PowerJob:
    """A running powerjob-server with app `shop` (password given), its jobs, and one worker."""

    def __init__(self, home: Path, password: str) -> None:
        self.home, self.password = home, password
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.app_id = 0
        self.other_app_job = 0
        self.jobs: dict[str, int] = {}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # -- the server's own API, for the tests' checks ------------------------------------------------

    def call(self, path: str, form: dict[str, Any] | None = None, body: Any = None) -> Any:
        """POST to the server (form or JSON), GET when neither; returns `data`, fails on `success: false`."""
        headers = {}
        data: bytes | None = None
        if body is not None:
            data, headers = (json.dumps(body).encode(), {"Content-Type": "application/json"})
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            document = json.loads(response.read())
        if not document.get("success"):
            raise RuntimeError(f"PowerJob {path}: {document.get('message')}")
        return document.get("data")

    def instance(self, instance_id: str | int) -> dict[str, Any]:
        """PowerJob's own record of an instance (/openApi/fetchInstanceInfo)."""
        form = {"appId": self.app_id, "instanceId": instance_id}
        return self.call("/openApi/fetchInstanceInfo", form)  # type: ignore[no-any-return]

    def instances(self, job: str) -> list[dict[str, Any]]:
        """The job's instances, newest first (the console's /instance/list: 4.x's queryInstance cannot query)."""
        body = {"appId": self.app_id, "jobId": self.jobs[job], "index": 0, "pageSize": 100, "type": "NORMAL"}
        return self.call("/instance/list", body=body)["data"]  # type: ignore[no-any-return]

    def wait_status(self, instance_id: str | int, wanted: set[int], timeout: float = 60.0) -> int:
        status = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = int(self.instance(instance_id)["status"])
            if status in wanted:
                return status
            time.sleep(0.2)
        return status

    def log(self, name: str = "server") -> str:
        with contextlib.suppress(OSError):
            return (self.home / f"{name}.log").read_text(errors="replace")[-4000:]
        return ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        compiler = self._compile_worker()  # in parallel with the server's start
        self.server = self._java("server", self._server_command())
        self._wait_server()
        if compiler.wait(timeout=120) != 0:
            raise RuntimeError(f"javac of {WORKER_SOURCE.name} failed:\n{self.log('javac')}")
        self.call("/appInfo/save", body={"appName": APP, "password": self.password})
        self.app_id = int(self.call("/openApi/assert", {"appName": APP, "password": self.password}))
        for name, (processor, params) in JOBS.items():
            self.jobs[name] = int(self.call("/openApi/saveJob", body=self._job(self.app_id, name, processor, params)))
        # A second app with a job of its own, for the "job of another app" check.
        self.call("/appInfo/save", body={"appName": OTHER_APP, "password": "other-secret"})
        other_id = int(self.call("/openApi/assert", {"appName": OTHER_APP, "password": "other-secret"}))
        self.other_app_job = int(self.call("/openApi/saveJob", body=self._job(other_id, "billing", *JOBS["echo"])))
        worker_cp = f"{self.home / 'classes'}:{TOOLS / 'worker/lib'}/*"
        worker_port = str(free_port())
        self.worker = self._java("worker", ["-Xmx128m", "-cp", worker_cp, "TriggerScheduleTestWorker", APP,
                                            f"{HOST}:{self.port}", worker_port])  # fmt: skip
        self._wait_worker()

    def stop(self) -> None:
        for process in (self.worker, self.server):
            _stop(process)
        shutil.rmtree(self.home, ignore_errors=True)

    def _java(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        home = str(self.home)
        flags = [*JVM_FLAGS, f"-Duser.home={home}", f"-Dvertx.cacheDirBase={home}/vertx",
                 f"-Dpowerjob.network.local.address={HOST}", f"-Djava.io.tmpdir={home}"]  # fmt: skip
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "LANG": "C.UTF-8"}
        with open(self.home / f"{name}.log", "wb") as log:
            return subprocess.Popen(
                ["java", *flags, *args], cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def _compile_worker(self) -> subprocess.Popen[bytes]:
        with open(self.home / "javac.log", "wb") as log:
            return subprocess.Popen(
                ["javac", "-nowarn", "-d", str(self.home / "classes"), "-cp", f"{TOOLS / 'worker/lib'}/*",
                 str(WORKER_SOURCE)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def _server_command(self) -> list[str]:
        database = f"jdbc:h2:file:{self.home}/core;MODE=MySQL;DATABASE_TO_LOWER=TRUE"
        settings = {
            "spring.profiles.active": "product",  # its mail and database settings are all replaced below
            "server.address": HOST,
            "server.port": self.port,
            "oms.http.port": free_port(),
            "oms.akka.port": free_port(),
            "spring.datasource.core.driver-class-name": "org.h2.Driver",
            "spring.datasource.core.jdbc-url": database,
            "spring.datasource.core.username": "sa",
            "spring.datasource.core.password": "",
            "spring.datasource.core.maximum-pool-size": 5,
            "spring.datasource.core.minimum-idle": 1,
            "oms.mongodb.enable": "false",
            "spring.mail.host": "",
        }
        return ["-Xmx512m", "-cp", f"{TOOLS / 'server/lib'}/*", "tech.powerjob.server.PowerJobServerApplication",
                *(f"--{key}={value}" for key, value in settings.items())]  # fmt: skip

    def _job(self, app_id: int, name: str, processor: str, params: str) -> dict[str, Any]:
        return {
            "appId": app_id, "jobName": name, "timeExpressionType": "API", "executeType": "STANDALONE",
            "processorType": "BUILT_IN", "processorInfo": processor, "jobParams": params,
            "dispatchStrategy": "HEALTH_FIRST",
        }  # fmt: skip

    def _wait_server(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last = "not answering yet"
        while time.monotonic() < deadline:
            if self.server is not None and self.server.poll() is not None:
                raise RuntimeError(f"powerjob-server exited with {self.server.returncode}:\n{self.log()}")
            try:
                self.call("/appInfo/list")
                return
            except (OSError, ValueError, RuntimeError) as exc:
                last = str(exc)
            time.sleep(1)
        raise RuntimeError(f"powerjob-server not ready after {STARTUP_TIMEOUT_S:.0f} s ({last}):\n{self.log()}")

    def _wait_worker(self) -> None:
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.worker is not None and self.worker.poll() is not None:
                raise RuntimeError(f"the powerjob worker exited with {self.worker.returncode}:\n{self.log('worker')}")
            if self._workers():
                return
            time.sleep(1)
        raise RuntimeError(f"no powerjob worker registered after {WORKER_TIMEOUT_S:.0f} s:\n{self.log('worker')}")

    def _workers(self) -> list[Any]:
        with urllib.request.urlopen(f"{self.url}/system/listWorker?appId={self.app_id}", timeout=30) as response:
            return json.loads(response.read()).get("data") or []  # type: ignore[no-any-return]


def start_powerjob(password: str) -> PowerJob:
    """powerjob-server + worker on free ports of 127.0.0.1, app and jobs created, the worker registered."""
    if not (TOOLS / "server/lib" / f"powerjob-server-starter-{VERSION}.jar").exists():
        raise RuntimeError("PowerJob is not installed: run scripts/tools/powerjob.sh first")
    server = PowerJob(Path(tempfile.mkdtemp(prefix="powerjob-home-")), password)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
