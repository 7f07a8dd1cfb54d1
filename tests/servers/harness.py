"""Start, drive and stop the generic scheduler test server (generic_scheduler.py) as a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Optional, Union

SERVER_SCRIPT = Path(__file__).with_name("generic_scheduler.py")
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 15.0
STARTUP_POLL_S = 0.05
STOP_TIMEOUT_S = 5.0
ADMIN_TIMEOUT_S = 10.0


class _Unset:
    """Marks an argument that was not passed, since None is a meaningful value (signing off)."""


UNSET = _Unset()


class GenericScheduler:
    """A running generic_scheduler.py bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        token: str,
        signing_secret: Optional[str],
        workdir: Path,
        stderr_file: IO[bytes],
    ) -> None:
        self.process = process
        self.port = port
        self.token = token
        self.signing_secret = signing_secret
        self._initial = (token, signing_secret)
        self._workdir = workdir
        self._stderr_file = stderr_file

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def start(cls, token: str = "test-token", signing_secret: Optional[str] = None) -> GenericScheduler:
        workdir = Path(tempfile.mkdtemp(prefix="generic-scheduler-"))
        port_file = workdir / "port"
        # A file, not a pipe: nobody drains a pipe while tests run, and a full pipe would block the server.
        stderr_file = open(workdir / "stderr.log", "w+b")  # noqa: SIM115 - closed in stop()
        command = [
            sys.executable,
            str(SERVER_SCRIPT),
            "--host",
            HOST,
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--token",
            token,
        ]
        if signing_secret is not None:
            command += ["--signing-secret", signing_secret]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file)
        server = cls(process, 0, token, signing_secret, workdir, stderr_file)
        try:
            server._wait_ready(port_file)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, port_file: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        attempts = int(STARTUP_TIMEOUT_S / STARTUP_POLL_S) + 1
        last_error = "port file not written yet"
        for _ in range(attempts):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"generic scheduler exited with code {self.process.returncode} before it was ready\n"
                    f"stderr:\n{self.stderr()}"
                )
            if self.port == 0 and port_file.exists():
                text = port_file.read_text(encoding="ascii").strip()
                if text:
                    self.port = int(text)
            if self.port:
                try:
                    with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                        if response.status == 200:
                            return
                except OSError as err:
                    last_error = f"healthz: {err}"
            if time.monotonic() >= deadline:
                break
            time.sleep(STARTUP_POLL_S)
        raise RuntimeError(
            f"generic scheduler not ready after {STARTUP_TIMEOUT_S:.0f} s ({last_error})\nstderr:\n{self.stderr()}"
        )

    def stop(self) -> Optional[int]:
        """SIGTERM, wait up to 5 s, then SIGKILL. Returns the exit code; safe to call twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if not self._stderr_file.closed:
            self._stderr_file.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> GenericScheduler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stderr(self) -> str:
        """What the server has written to stderr so far."""
        if self._stderr_file.closed:
            return ""
        self._stderr_file.flush()
        return (self._workdir / "stderr.log").read_text(encoding="utf-8", errors="replace")

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def run_url(self, run_id: str) -> str:
        return f"{self.url}/ui/runs/{run_id}"

    # -- admin API ------------------------------------------------------------------------

    def _admin(self, method: str, path: str, payload: Optional[dict[str, Any]] = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(f"{self.url}/_admin/{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT_S) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise RuntimeError(f"admin {method} /_admin/{path} failed: HTTP {err.code} {detail}") from None

    def requests(self, endpoint: Optional[str] = None) -> list[dict[str, Any]]:
        """Recorded requests (all but /_admin and /healthz), oldest first, optionally for one endpoint."""
        recorded: list[dict[str, Any]] = self._admin("GET", "requests")["requests"]
        if endpoint is None:
            return recorded
        return [entry for entry in recorded if entry["endpoint"] == endpoint]

    def reset(self) -> None:
        """Forget runs, requests, faults and custom jobs; restore the start-up token and secret."""
        self._admin("POST", "reset", {})
        self.token, self.signing_secret = self._initial

    def oidc_rejections(self) -> list[str]:
        """Why the server refused each OIDC token it refused (expired, wrong audience, ...)."""
        rejections: list[str] = self._admin("GET", "oidc")["rejections"]
        return rejections

    def define_job(self, name: str, outcome: str, duration_s: float, status_word: Optional[str] = None) -> None:
        self._admin(
            "POST",
            "jobs",
            {"name": name, "outcome": outcome, "duration_s": duration_s, "status_word": status_word},
        )

    def inject(self, endpoint: str, responses: list[dict[str, Any]]) -> None:
        """Queue responses for 'trigger', 'status', 'batch-status', 'logs', 'cancel' or 'find', one per request."""
        self._admin("POST", "faults", {"endpoint": endpoint, "responses": responses})

    def configure(
        self,
        token: Union[str, _Unset] = UNSET,
        signing_secret: Union[str, _Unset, None] = UNSET,
        *,
        long_poll: Optional[bool] = None,
        status_retry_after: Union[float, _Unset, None] = UNSET,
        batch_status: Optional[bool] = None,
        oidc: Union[dict[str, Any], _Unset, None] = UNSET,
    ) -> None:
        """Change credentials and the contract's optional parts (until the next reset); signing_secret=None turns
        request signing off, long_poll=False makes status requests ignore `wait=`, status_retry_after sets the
        Retry-After poll hint on status answers, batch_status=False turns the batch status endpoint off,
        oidc={"issuers": [...], "audience": ...} accepts only OIDC tokens (None: the static token again)."""
        payload: dict[str, Any] = {}
        if batch_status is not None:
            payload["batch_status"] = batch_status
        if not isinstance(oidc, _Unset):
            payload["oidc"] = oidc
        if long_poll is not None:
            payload["long_poll"] = long_poll
        if not isinstance(status_retry_after, _Unset):
            payload["status_retry_after"] = status_retry_after
        if not isinstance(token, _Unset):
            payload["token"] = token
        if not isinstance(signing_secret, _Unset):
            payload["signing_secret"] = signing_secret
        self._admin("POST", "config", payload)
        if not isinstance(token, _Unset):
            self.token = token
        if not isinstance(signing_secret, _Unset):
            self.signing_secret = signing_secret
