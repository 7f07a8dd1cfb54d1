"""Wait for a run to end: adaptive polling with jitter, a hard deadline, streamed logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trigger_schedule.backoff import Backoff
from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.errors import AuthError, PlatformError, RejectedError, WaitTimeout
from trigger_schedule.platforms.base import Platform, RunRef, RunStatus
from trigger_schedule.retrying import (
    Retrying,
    pause,
    stop_after_attempt,
    stop_at_deadline,
    stop_without_wait,
    wait_backoff,
    wait_poll_hint,
)

# A guard on top of the deadline, so no bug in a clock can make this loop endless.
MAX_POLLS = 100_000


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


def wait_for_run(
    platform: Platform,
    run: RunRef,
    *,
    clock: Clock,
    deadline: float,
    started: float,
    backoff: Backoff,
    console: Console,
    name: str,
    logs: bool,
    on_status: Callable[[RunStatus], None] | None = None,
) -> RunStatus:
    """The run's terminal status; WaitTimeout past the deadline, Interrupted on a signal."""
    streamer = LogStreamer(platform, run, console, f"{name} logs (run {run.run_id})", clock) if logs else None

    def seen(status: RunStatus) -> None:
        if on_status:
            on_status(status)
        console.progress(name, status.raw, clock.monotonic() - started, clock.monotonic())
        if streamer:
            streamer.pump(final=status.state.terminal)

    last = _watch(platform, run, clock, deadline, console, name, seen)
    if last is not None and last.state.terminal:
        return last
    return _poll(platform, run, clock, deadline, backoff, console, name, seen, last)


def _watch(
    platform: Platform,
    run: RunRef,
    clock: Clock,
    deadline: float,
    console: Console,
    name: str,
    seen: Callable[[RunStatus], None],
) -> RunStatus | None:
    """Follow the statuses the platform pushes, if it does; the last one seen."""
    last: RunStatus | None = None
    try:
        for status in platform.watch(run, deadline) or ():
            last = status
            seen(status)
            if status.state.terminal:
                return status
            clock.cancellation.raise_if_set()
            if clock.monotonic() >= deadline:
                break
    except (AuthError, RejectedError):
        raise
    except PlatformError as exc:
        console.debug(f"[{name}] watching run {run.run_id} stopped ({exc.message}); polling instead")
    return last


def _poll(
    platform: Platform,
    run: RunRef,
    clock: Clock,
    deadline: float,
    backoff: Backoff,
    console: Console,
    name: str,
    seen: Callable[[RunStatus], None],
    last: RunStatus | None,
) -> RunStatus:
    """Poll with growing, jittered waits until the run ends or the deadline comes."""
    transient_errors = 0
    retrying = Retrying(
        stop=stop_after_attempt(MAX_POLLS) | stop_at_deadline(deadline, clock) | stop_without_wait(),
        wait=wait_poll_hint(wait_backoff(backoff)),
        clock=clock,
    )
    for attempt in retrying if clock.monotonic() < deadline else ():  # no poll once the deadline has come
        attempt.retry_after = None
        try:
            status = platform.status(run, deadline)
        except (AuthError, RejectedError):
            raise
        except PlatformError as exc:
            # The scheduler blinked (restart, proxy hiccup): keep waiting while the deadline allows.
            transient_errors += 1
            console.warn(f"[{name}] status check failed ({exc.message}); still waiting")
        else:
            last = status
            seen(status)
            if status.state.terminal:
                return status
            attempt.retry_after = status.poll_after  # the scheduler's own hint for the next poll, if it gave one
    # A timeout is reported at its deadline: the last wait is the time left.
    if deadline > clock.monotonic():
        pause(clock, deadline - clock.monotonic())
    state = f"last state {last.raw}" if last else "no status was read"
    raise WaitTimeout(
        f"run {run.run_id} did not finish before the timeout ({state}"
        + (f"; {transient_errors} status checks failed" if transient_errors else "")
        + ")",
        hint="raise timeout: for this trigger, or set on-timeout: cancel to stop the run",
    )
