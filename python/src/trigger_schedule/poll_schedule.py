"""When to read a waited run next: the scheduler's own hint, the job's usual duration, else a backoff.

Polling trades lag against calls. Without history the waits grow (jittered) from `poll-interval` to
`poll-max-interval`. When the platform knows how long the job usually takes, the run is read every
`poll-max-interval` (the last gap up to twice that) until shortly before then (5 % of it, at least
a second), and every `poll-interval` from there to as long past it (at least 10 s), where the end is
most likely; a run that outlasts that window falls back to the growing backoff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trigger_schedule.backoff import Backoff

# A hint from the server is honoured within these bounds (a zero hint would spin; hours would stall).
HINT_FLOOR_S = 0.1
HINT_CEILING_S = 300.0
# The close reading spans the expected end by this share of it on either side (runs of one job vary by a few
# per cent), starting at least LEAD_S before it and going on at least CLOSE_WINDOW_MIN_S past it.
CLOSE_WINDOW_SHARE = 0.05
LEAD_S = 1.0
CLOSE_WINDOW_MIN_S = 10.0


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
            margin = CLOSE_WINDOW_SHARE * self.expected
            close_from = self.expected - max(LEAD_S, margin)
            close_until = self.expected + max(CLOSE_WINDOW_MIN_S, margin)
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
