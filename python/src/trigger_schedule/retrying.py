"""The one loop for retrying and polling, made of small stop and wait policies (after jd/tenacity).

    for state in Retrying(stop=stop_after_attempt(5) | stop_before_deadline(deadline, clock),
                          wait=wait_backoff(Backoff()), clock=clock):
        ...  # one attempt: `return` or `break` when done; falling through asks for another

Stop policies are checked after each attempt that asks for another, with the wait before it known;
cancellation (SIGINT/SIGTERM) is the stop that raises `Interrupted`: before and during that wait.
The sleep is the clock's, so a fake clock makes every wait instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from trigger_schedule.backoff import Backoff
from trigger_schedule.cancellation import Cancellation
from trigger_schedule.clock import Clock


@dataclass
class RetryState:
    attempt: int = 0  # attempts begun so far: 1 inside the first
    next_wait: float = 0.0  # the wait before the next attempt, once the wait policy has chosen it
    retry_after: float | None = None  # what the server asked for (Retry-After), set by the attempt


# -- stop policies ---------------------------------------------------------------------------


class Stop:
    def __call__(self, state: RetryState) -> bool:
        raise NotImplementedError

    def __or__(self, other: Stop) -> Stop:
        return _StopAny(self, other)


class _StopAny(Stop):
    def __init__(self, *policies: Stop) -> None:
        self.policies = policies

    def __call__(self, state: RetryState) -> bool:
        return any(policy(state) for policy in self.policies)


class stop_after_attempt(Stop):
    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def __call__(self, state: RetryState) -> bool:
        return state.attempt >= self.attempts


class stop_before_deadline(Stop):
    """Stop when the next wait would end past `deadline` (a `clock.monotonic()` value; None: never)."""

    def __init__(self, deadline: float | None, clock: Clock) -> None:
        self.deadline, self.clock = deadline, clock

    def __call__(self, state: RetryState) -> bool:
        return self.deadline is not None and self.clock.monotonic() + state.next_wait > self.deadline


class stop_at_deadline(Stop):
    """Stop when the next wait would end at `deadline` or after it (None: never)."""

    def __init__(self, deadline: float | None, clock: Clock) -> None:
        self.deadline, self.clock = deadline, clock

    def __call__(self, state: RetryState) -> bool:
        return self.deadline is not None and self.clock.monotonic() + state.next_wait >= self.deadline


class stop_until(Stop):
    """Stop once `deadline` has come (None: never); with `wait_within`, the last wait ends at it."""

    def __init__(self, deadline: float | None, clock: Clock) -> None:
        self.deadline, self.clock = deadline, clock

    def __call__(self, state: RetryState) -> bool:
        return self.deadline is not None and self.clock.monotonic() >= self.deadline


class stop_without_wait(Stop):
    """Stop when the next wait is zero: a loop that may not pause must not spin either."""

    def __call__(self, state: RetryState) -> bool:
        return state.next_wait <= 0


# -- wait policies ---------------------------------------------------------------------------

Wait = Callable[[RetryState], float]


def wait_backoff(backoff: Backoff, rng: random.Random | None = None) -> Wait:
    """Exponential growth with full jitter, capped (see Backoff); the first wait is for attempt 0."""
    chosen = rng or random.Random()
    return lambda state: backoff.delay(state.attempt - 1, chosen)


def wait_fixed(seconds: float) -> Wait:
    return lambda _state: seconds


def wait_retry_after(inner: Wait) -> Wait:
    """At least what the server asked for in Retry-After, which may exceed the cap."""

    def wait(state: RetryState) -> float:
        chosen = inner(state)
        return chosen if state.retry_after is None else max(chosen, state.retry_after)

    return wait


def wait_within(inner: Wait, deadline: float | None, clock: Clock) -> Wait:
    """The inner wait, cut so it never sleeps past `deadline`."""

    def wait(state: RetryState) -> float:
        chosen = inner(state)
        return chosen if deadline is None else min(chosen, max(0.0, deadline - clock.monotonic()))

    return wait


# -- the loop --------------------------------------------------------------------------------


class Retrying:
    def __init__(
        self,
        *,
        stop: Stop,
        wait: Wait,
        clock: Clock,
        cancellation: Cancellation | None = None,
        before_sleep: Callable[[RetryState], None] | None = None,
    ) -> None:
        self.stop, self.wait, self.clock = stop, wait, clock
        self.cancellation = cancellation or clock.cancellation
        self.before_sleep = before_sleep
        self.state = RetryState()

    def __iter__(self) -> Iterator[RetryState]:
        """One state per attempt; ends when a stop policy says so. A body that breaks ends it too."""
        state = self.state
        while True:
            state.attempt += 1
            yield state
            state.next_wait = self.wait(state)
            if self.stop(state):
                return
            if self.before_sleep:
                self.before_sleep(state)
            pause(self.clock, state.next_wait, self.cancellation)
            state.retry_after = None


def pause(clock: Clock, seconds: float, cancellation: Cancellation | None = None) -> None:
    """Sleep on the clock; Interrupted as soon as the cancellation is set."""
    watched = cancellation or clock.cancellation
    if clock.sleep(seconds, watched.event):
        raise watched.interrupted()
