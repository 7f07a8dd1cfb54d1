"""The pieces of waiting for one run: its pushed statuses, its streamed logs, its timeout message.

The plan's waiter (plan_waiter.py) schedules them for every run at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.errors import AuthError, PlatformError, RejectedError, WaitTimeout
from trigger_schedule.platforms.base import Platform, RunRef, RunStatus

# A streamed status can arrive every half second; logs need not be fetched that often.
LOG_MIN_INTERVAL_S = 2.0


class LogStreamer:
    """Fetches new log text and prints it as a collapsible group per chunk."""

    def __init__(self, platform: Platform, run: RunRef, console: Console, title: str, clock: Clock) -> None:
        self.platform, self.run, self.console, self.title, self.clock = platform, run, console, title, clock
        self.cursor: Any = None
        self.enabled = True
        self.fetched_at: float | None = None

    def pump(self, final: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock.monotonic()
        if not final and self.fetched_at is not None and now - self.fetched_at < LOG_MIN_INTERVAL_S:
            return
        self.fetched_at = now
        try:
            chunk = self.platform.logs(self.run, self.cursor)
        except PlatformError as exc:
            self.console.debug(f"{self.title}: logs unavailable: {exc.message}")
            return
        if chunk is None:
            self.enabled = False
            return
        self.cursor = chunk.cursor
        if chunk.text.strip():
            self.console.group(self.title, chunk.text)


def follow_stream(
    platform: Platform,
    run: RunRef,
    clock: Clock,
    deadline: float,
    console: Console,
    name: str,
    seen: Callable[[RunStatus], None],
    *,
    stop: Callable[[], bool],
    no_stream: Callable[[], None],
) -> RunStatus | None:
    """Follow the statuses the platform pushes, if it does, until the run ends, `stop()` says so, the
    deadline comes or the stream does; the last status seen (None: nothing was pushed)."""
    last: RunStatus | None = None
    try:
        stream = platform.watch(run, deadline)
        if stream is None:
            no_stream()
            return None
        for status in stream:
            if stop():
                break
            last = status
            seen(status)
            if status.state.terminal or clock.cancellation.is_set() or clock.monotonic() >= deadline:
                break
    except (AuthError, RejectedError):
        raise
    except PlatformError as exc:
        console.debug(f"[{name}] watching run {run.run_id} stopped ({exc.message}); polling instead")
    return last


def timeout_error(run: RunRef, last: RunStatus | None, failed_reads: int) -> WaitTimeout:
    state = f"last state {last.raw}" if last else "no status was read"
    return WaitTimeout(
        f"run {run.run_id} did not finish before the timeout ({state}"
        + (f"; {failed_reads} status checks failed" if failed_reads else "")
        + ")",
        hint="raise timeout: for this trigger, or set on-timeout: cancel to stop the run",
    )
