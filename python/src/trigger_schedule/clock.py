"""Time as an injectable object: tests pass a fake clock, so waits never really wait."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    signum: int  # the signal that interrupted a sleep, 0 while none has
    stop: threading.Event  # set on SIGINT/SIGTERM

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> bool:
        """Sleep; True when woken early by an interrupt."""
        ...


class SystemClock:
    """Real time; `sleep` wakes at once when `stop` is set (SIGINT/SIGTERM)."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.signum = 0

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> bool:
        return self.stop.wait(max(0.0, seconds))


class FakeClock:
    """Advances only when slept on; records every sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        self._t = 0.0
        self._start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self.sleeps: list[float] = []
        self.stop = threading.Event()
        self.signum = 0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        from datetime import timedelta

        return self._start + timedelta(seconds=self._t)

    def sleep(self, seconds: float) -> bool:
        with self._lock:
            self.sleeps.append(seconds)
            self._t += max(0.0, seconds)
        return self.stop.is_set()
