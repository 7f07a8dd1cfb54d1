"""When a waited run is read: the server's hint, the job's usual duration, else the growing backoff."""

from __future__ import annotations

import random

import pytest
from trigger_schedule.backoff import Backoff
from trigger_schedule.poll_schedule import HINT_CEILING_S, HINT_FLOOR_S, PollSchedule

BACKOFF = Backoff(initial=1.0, cap=15.0, factor=1.5)


def reads_until(schedule: PollSchedule, end: float, limit: int = 1000) -> list[float]:
    """The moments the run is read, up to the first at or after `end` (when its end is seen)."""
    now, moments = schedule.started, []
    for _ in range(limit):
        now += schedule.next_wait(now)
        moments.append(now)
        if now >= end:
            return moments
    raise AssertionError("the run was never seen to end")


@pytest.mark.parametrize("duration", [20.0, 600.0])
def test_a_run_that_ends_when_expected_is_seen_within_a_second_at_few_reads(duration: float) -> None:
    random.seed(3)
    moments = reads_until(PollSchedule(BACKOFF, started=0.0, expected=duration), end=duration + 0.3)
    assert moments[-1] - (duration + 0.3) <= 1.0
    assert len(moments) / ((moments[-1]) / 60) <= 10  # reads per waited minute


def test_without_a_history_the_same_run_is_read_more_often_and_seen_later() -> None:
    random.seed(3)
    moments = reads_until(PollSchedule(BACKOFF, started=0.0), end=20.3)
    predicted = reads_until(PollSchedule(BACKOFF, started=0.0, expected=20.0), end=20.3)
    assert len(moments) > len(predicted)
    assert moments[-1] - 20.3 > predicted[-1] - 20.3


def test_an_early_failure_is_still_seen_within_the_cap() -> None:
    schedule = PollSchedule(BACKOFF, started=0.0, expected=600.0)
    moments = reads_until(schedule, end=3.0)
    assert moments[-1] <= 3.0 + BACKOFF.cap


def test_a_run_that_outlasts_the_close_window_falls_back_to_the_growing_backoff() -> None:
    schedule = PollSchedule(BACKOFF, started=0.0, expected=20.0)
    moments = reads_until(schedule, end=30.0)  # through the close window (19 s to 30 s), read every second
    assert [b - a for a, b in zip(moments[-10:], moments[-9:])] == [1.0] * 9
    waits = [schedule.next_wait(30.0 + i) for i in range(8)]
    assert waits[0] <= 1.0 and max(waits) > 5.0  # growing again


def test_a_server_hint_wins_within_its_bounds() -> None:
    schedule = PollSchedule(BACKOFF, started=0.0, expected=20.0)
    assert schedule.next_wait(1.0, hint=7.0) == 7.0
    assert schedule.next_wait(1.0, hint=0.0) == HINT_FLOOR_S
    assert schedule.next_wait(1.0, hint=1e6) == HINT_CEILING_S


@pytest.mark.parametrize("share", [0.96, 1.04])
def test_a_long_run_a_few_per_cent_off_its_history_is_still_seen_within_a_second(share: float) -> None:
    random.seed(5)
    end = 600.0 * share
    moments = reads_until(PollSchedule(BACKOFF, started=0.0, expected=600.0), end=end)
    assert moments[-1] - end <= 1.0
    assert len(moments) / (moments[-1] / 60) <= 10
