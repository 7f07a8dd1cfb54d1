"""The one retry loop and its policies, on a fake clock: attempts, deadlines, waits, cancellation."""

from __future__ import annotations

import random

import pytest
from trigger_schedule.backoff import Backoff
from trigger_schedule.clock import FakeClock
from trigger_schedule.errors import Interrupted
from trigger_schedule.retrying import (
    Retrying,
    pause,
    stop_after_attempt,
    stop_at_deadline,
    stop_before_deadline,
    stop_until,
    stop_without_wait,
    wait_backoff,
    wait_fixed,
    wait_retry_after,
    wait_within,
)


def attempts(retrying: Retrying) -> int:
    return sum(1 for _ in retrying)


def test_stop_after_attempt_sleeps_between_attempts_only() -> None:
    clock = FakeClock()
    assert attempts(Retrying(stop=stop_after_attempt(3), wait=wait_fixed(2.0), clock=clock)) == 3
    assert clock.sleeps == [2.0, 2.0]


def test_a_body_that_breaks_ends_the_loop_without_a_wait() -> None:
    clock = FakeClock()
    for state in Retrying(stop=stop_after_attempt(5), wait=wait_fixed(1.0), clock=clock):
        if state.attempt == 2:
            break
    assert clock.sleeps == [1.0]


def test_policies_compose_with_or_and_the_first_to_stop_wins() -> None:
    clock = FakeClock()
    stop = stop_after_attempt(100) | stop_before_deadline(10.0, clock)
    assert attempts(Retrying(stop=stop, wait=wait_fixed(3.0), clock=clock)) == 4  # waits end at 3, 6, 9; 12 > 10
    assert clock.sleeps == [3.0, 3.0, 3.0]


def test_stop_at_deadline_stops_when_the_wait_would_reach_it() -> None:
    clock = FakeClock()
    assert attempts(Retrying(stop=stop_at_deadline(9.0, clock), wait=wait_fixed(3.0), clock=clock)) == 3
    assert clock.monotonic() == 6.0


def test_stop_until_with_wait_within_uses_the_time_up_to_the_deadline() -> None:
    clock = FakeClock()
    retrying = Retrying(stop=stop_until(10.0, clock), wait=wait_within(wait_fixed(4.0), 10.0, clock), clock=clock)
    assert attempts(retrying) == 4  # at 0, 4, 8 and a last one at the deadline
    assert clock.sleeps == [4.0, 4.0, 2.0]


def test_no_deadline_never_stops_by_time() -> None:
    clock = FakeClock()
    stop = stop_after_attempt(4) | stop_before_deadline(None, clock) | stop_until(None, clock)
    assert attempts(Retrying(stop=stop, wait=wait_fixed(1e6), clock=clock)) == 4


def test_retry_after_raises_the_wait_above_the_backoff() -> None:
    clock = FakeClock()
    for state in Retrying(stop=stop_after_attempt(3), wait=wait_retry_after(wait_fixed(1.0)), clock=clock):
        state.retry_after = 7.0 if state.attempt == 1 else None
    assert clock.sleeps == [7.0, 1.0]


def test_backoff_waits_grow_with_jitter_between_floor_and_cap() -> None:
    clock = FakeClock()
    backoff = Backoff(initial=1.0, cap=15.0, factor=1.5)
    retrying = Retrying(stop=stop_after_attempt(30), wait=wait_backoff(backoff, random.Random(1)), clock=clock)
    attempts(retrying)
    for attempt, wait in enumerate(clock.sleeps):
        step = min(15.0, 1.5**attempt)
        assert step / 2 <= wait <= step


def test_cancellation_interrupts_before_the_wait_with_the_signal() -> None:
    clock = FakeClock()
    clock.cancellation.cancel(2)
    with pytest.raises(Interrupted) as raised:
        attempts(Retrying(stop=stop_after_attempt(3), wait=wait_fixed(1.0), clock=clock))
    assert raised.value.signum == 2
    clock.cancellation.cancel(15)
    assert clock.cancellation.signum == 2  # the first signal is the one reported


def test_cancellation_does_not_stop_a_loop_that_is_done() -> None:
    clock = FakeClock()
    clock.cancellation.cancel(15)
    assert attempts(Retrying(stop=stop_after_attempt(1), wait=wait_fixed(1.0), clock=clock)) == 1


def test_pause_without_cancellation_just_sleeps() -> None:
    clock = FakeClock()
    pause(clock, 5.0)
    assert clock.sleeps == [5.0]
    clock.cancellation.cancel(15)
    with pytest.raises(Interrupted):
        pause(clock, 1.0)
    assert clock.sleep(1.0) is False  # a sleep with no event to watch is not cut short


def test_before_sleep_sees_the_attempt_and_the_wait() -> None:
    clock = FakeClock()
    seen: list[tuple[int, float]] = []
    retrying = Retrying(
        stop=stop_after_attempt(3),
        wait=wait_fixed(0.5),
        clock=clock,
        before_sleep=lambda state: seen.append((state.attempt, state.next_wait)),
    )
    attempts(retrying)
    assert seen == [(1, 0.5), (2, 0.5)]


def test_backoff_stays_within_floor_and_cap_for_any_attempt() -> None:
    backoff = Backoff(initial=1.0, cap=15.0, factor=1.5)
    rng = random.Random(7)
    # A wait of many hours polls thousands of times; 1.5 ** 2000 overflows a float.
    for attempt in (0, 1, 5, 10, 1749, 1750, 2000, 100_000):
        step = min(15.0, 1.5 ** min(attempt, 100))
        assert step / 2 <= backoff.delay(attempt, rng) <= step
    assert Backoff(initial=1.0, cap=15.0, factor=2.0, jitter=False).delay(5000) == 15.0
    assert Backoff(initial=20.0, cap=15.0).delay(0, rng) <= 15.0


def test_a_zero_wait_ends_the_loop_instead_of_spinning() -> None:
    clock = FakeClock()
    retrying = Retrying(stop=stop_after_attempt(10_000) | stop_without_wait(), wait=wait_fixed(0.0), clock=clock)
    assert attempts(retrying) == 1
