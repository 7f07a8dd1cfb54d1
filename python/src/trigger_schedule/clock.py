"""Time as an injectable object: tests pass a fake clock, so waits never really wait.

A clock tells and passes time; cancellation is its own object (`clock.cancellation`, carried here
so every plug-in built with a clock can reach it). A sleep ends early only when given an event to
watch, so a cancel sent after a signal can still pause between its attempts.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

from trigger_schedule.cancellation import Cancellation


class Clock(Protocol):
    cancellation: Cancellation

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> bool:
        """Sleep; True when `wake` is set (before or during the sleep), which ends it early."""
        ...


class _SignalFields:
    """`stop` and `signum` as the CLI's signal handler sets them, kept on the cancellation."""

    cancellation: Cancellation

    @property
    def stop(self) -> threading.Event:
        return self.cancellation.event

    @property
    def signum(self) -> int:
        return self.cancellation.signum

    @signum.setter
    def signum(self, value: int) -> None:
        self.cancellation.signum = value


class SystemClock(_SignalFields):
    """Real time."""

    def __init__(self, cancellation: Cancellation | None = None) -> None:
        self.cancellation = cancellation or Cancellation()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> bool:
        if wake is None:
            time.sleep(max(0.0, seconds))
            return False
        return wake.wait(max(0.0, seconds))


class FakeClock(_SignalFields):
    """Advances only when slept on; records every sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        self._t = 0.0
        self._start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.sleeps: list[float] = []
        self.cancellation = Cancellation()
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> bool:
        with self._lock:
            self.sleeps.append(seconds)
            self._t += max(0.0, seconds)
        return wake is not None and wake.is_set()
