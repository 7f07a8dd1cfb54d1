"""What the CLI prints: plain lines in CI (with its collapsible groups), a live status line on a terminal."""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from trigger_schedule.durations import format_duration
from trigger_schedule.results import Status

HEARTBEAT_SECONDS = 30.0


class Console:
    def __init__(
        self,
        ci_system: str,
        *,
        out: TextIO | None = None,
        err: TextIO | None = None,
        debug: bool = False,
        live: bool | None = None,
    ) -> None:
        self.ci = ci_system
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.debug_enabled = debug
        self._lock = threading.Lock()
        self._states: dict[str, tuple[str, float]] = {}
        self._last_beat: dict[str, float] = {}
        interactive = self.out.isatty() and ci_system == "local"
        self._live_wanted = interactive if live is None else live
        self._status: Any = None

    # -- lines ------------------------------------------------------------------------------

    def info(self, text: str) -> None:
        self._write(self.out, self._inert(text))

    def warn(self, text: str) -> None:
        if self.ci == "github":
            self._write(self.out, "::warning::" + _command_value(text))
            return
        self._write(self.err, "warning: " + text)

    def error(self, text: str) -> None:
        if self.ci == "github":
            first, *rest = text.splitlines() or [""]
            # One annotation line; the details follow as plain text.
            self._write(self.out, f"::error::{_command_value(first)}")
            if rest:
                self._write(self.err, self._inert("\n".join(rest)))
            return
        self._write(self.err, f"error: {text}")

    def debug(self, text: str) -> None:
        if self.debug_enabled:
            self._write(self.err, f"debug: {text}")

    def group(self, title: str, body: str) -> None:
        """A collapsible block: GitHub groups, GitLab sections, plain elsewhere."""
        if not body:
            return
        body = body.rstrip("\n")
        if self.ci == "github":
            text = f"::group::{_command_value(title)}\n{self._inert(body)}\n::endgroup::"
        elif self.ci == "gitlab":
            key = "ts_" + "".join(c if c.isalnum() else "_" for c in title)[:40] + f"_{int(time.time() * 1000)}"
            now = int(time.time())
            text = (
                f"\x1b[0Ksection_start:{now}:{key}[collapsed=true]\r\x1b[0K{title}\n{body}\n"
                f"\x1b[0Ksection_end:{now}:{key}\r\x1b[0K"
            )
        else:
            text = f"--- {title}\n{body}\n--- end of {title}"
        self._write(self.out, text)

    def _inert(self, text: str) -> str:
        """On GitHub, text from outside (job names, parameters, scheduler logs) must not run as a workflow
        command: a line of it starting with '::' is fenced off with ::stop-commands::."""
        if self.ci != "github" or not any(line.lstrip().startswith("::") for line in text.splitlines()):
            return text
        fence = secrets.token_hex(16)
        return f"::stop-commands::{fence}\n{text}\n::{fence}::"

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            if self._status is not None:
                self._status.console.print(text, markup=False, highlight=False)
                return
            stream.write(text + "\n")
            stream.flush()

    # -- progress ---------------------------------------------------------------------------

    def progress(self, name: str, state: str, elapsed: float, now: float) -> None:
        """Live line on a terminal; in CI a heartbeat at most every 30 s per trigger."""
        with self._lock:
            changed = self._states.get(name, ("", 0.0))[0] != state
            self._states[name] = (state, elapsed)
            if self._status is not None:
                self._status.update(self._summary())
                return
        if changed or now - self._last_beat.get(name, -1e9) >= HEARTBEAT_SECONDS:
            self._last_beat[name] = now
            self.info(f"[{name}] {state} ({format_duration(elapsed)} elapsed)")

    def _summary(self) -> str:
        return "  ".join(f"{n}: {s} {format_duration(e)}" for n, (s, e) in self._states.items())

    def start_live(self) -> None:
        if not self._live_wanted:
            return
        from rich.console import Console as RichConsole

        self._status = RichConsole(file=self.out).status("starting...")
        self._status.start()

    def stop_live(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def table(self, rows: list[Mapping[str, Any]]) -> None:
        """The end-of-run summary: one line per trigger."""
        for row in rows:
            link = f"  {row['run_url']}" if row.get("run_url") else ""
            run = f" run {row['run_id']}" if row.get("run_id") else ""
            took = f" in {format_duration(row['duration_s'])}" if row.get("duration_s") is not None else ""
            self.info(f"{_MARK.get(row['status'], '-')} {row['name']}: {row['status']}{run}{took}{link}")
            if row.get("reason"):
                self.info(f"    {row['reason']}")


def _command_value(text: str) -> str:
    """A workflow command's value on one line, escaped as GitHub's runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


_MARK = {
    Status.SUCCEEDED: "✔",
    Status.TRIGGERED: "✔",
    Status.SKIPPED: "○",
    Status.FAILED: "✘",
    Status.ERROR: "✘",
    Status.CANCELLED: "✘",
    Status.TIMED_OUT: "✘",
    Status.NOT_STARTED: "○",
    Status.DRY_RUN: "○",
}
