"""When to read a waited run next: the scheduler's own hint, the job's usual duration, else a backoff.

Polling trades lag against calls. Without history the waits grow (jittered) from `poll-interval` to
`poll-max-interval`. When the platform knows how long the job usually takes, the run is read every
`poll-max-interval` (the last gap up to twice that) until shortly before then, and every
`poll-interval` for a while around it, where the end is most likely; a run that outlasts that window
falls back to the growing backoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trigger_schedule.backoff import Backoff

# A hint from the server is honoured within these bounds (a zero hint would spin; hours would stall).
HINT_FLOOR_S = 0.1
HINT_CEILING_S = 300.0
# How long before the expected end the close reading starts, and how long it goes on past it.
LEAD_S = 1.0
CLOSE_WINDOW_MIN_S = 10.0
CLOSE_WINDOW_SHARE = 0.25


@dataclass
class PollSchedule:
    backoff: Backoff
    started: float  # when the wait began, on the run's clock
    expected: float | None = None  # the job's usual duration in seconds, when the platform keeps a history
    _attempt: int = field(default=0, init=False)

    def next_wait(self, now: float, hint: float | None = None) -> float:
        """Seconds until the next read, the run still unfinished at `now`."""
        if hint is not None:
            return min(max(hint, HINT_FLOOR_S), HINT_CEILING_S)
        if self.expected is not None:
            elapsed = now - self.started
            close_from = self.expected - LEAD_S
            close_until = self.expected + max(CLOSE_WINDOW_MIN_S, CLOSE_WINDOW_SHARE * self.expected)
            if elapsed < close_from:
                # The last gap before the close reading may stretch to twice the cap, so a short job is
                # not read moments before it.
                remaining = close_from - elapsed
                return remaining if remaining <= 2 * self.backoff.cap else self.backoff.cap
            if elapsed < close_until:
                return self.backoff.initial
        wait = self.backoff.delay(self._attempt)
        self._attempt += 1
        return wait
