"""Backoff policies: exponential growth with full jitter, capped, and `Retry-After` parsing."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    cap: float = 15.0
    factor: float = 2.0
    # Full jitter (a random share of the step) spreads out many pipelines polling one scheduler.
    jitter: bool = True

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `attempt` (0-based)."""
        step = min(self.cap, self.initial * (self.factor ** max(0, attempt)))
        if not self.jitter:
            return step
        return (rng or random).uniform(step / 2, step)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
