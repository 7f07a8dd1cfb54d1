"""Backoff: exponential growth with jitter above a half-step floor, capped; and `Retry-After` parsing."""

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
    # Jitter (a random point between half the step and the step) spreads out many pipelines
    # polling one scheduler; the half-step floor keeps polls from bunching up near zero.
    jitter: bool = True

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `attempt` (0-based): within [step / 2, step], and never above `cap`."""
        try:
            grown = self.initial * self.factor ** max(0, attempt)
        except OverflowError:  # a wait of many hours polls thousands of times: the step is long capped
            grown = self.cap
        step = min(self.cap, grown)
        if not self.jitter:
            return step
        chosen = (rng or random).uniform(step / 2, step)
        return min(step, max(step / 2, chosen))  # uniform() may round past its bounds


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
