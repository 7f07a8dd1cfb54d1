"""Start a helper server as a subprocess on 127.0.0.1, wait until it is listening, stop it by PID."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(
    script: Path,
    args: Sequence[str],
    port_files: Sequence[Path],
    health_path: str | None = "/",
    env: dict[str, str] | None = None,
) -> Iterator[list[int]]:
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        ports = _wait_for_ports(process, port_files)
        if health_path is not None:
            _wait_for_health(f"http://127.0.0.1:{ports[0]}{health_path}")
        yield ports
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, then SIGKILL after 5 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _wait_for_ports(process: subprocess.Popen[bytes], port_files: Sequence[Path]) -> list[int]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(f.exists() for f in port_files):
            return [int(f.read_text()) for f in port_files]
        if process.poll() is not None:
            raise RuntimeError(f"server exited early: {process.stderr.read().decode() if process.stderr else ''}")
        time.sleep(0.05)
    raise RuntimeError("server did not start listening within 15 s")


def _wait_for_health(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError as exc:
            # A 5xx answer still proves the server is up.
            if getattr(exc, "code", 0):
                return
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within 10 s")
