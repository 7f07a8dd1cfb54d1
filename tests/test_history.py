"""A job's expected duration from its history: the median of its newest runs, read once, never a failure."""

from __future__ import annotations

import pytest
from trigger_schedule.clock import SystemClock
from trigger_schedule.errors import Interrupted, UnreachableError
from trigger_schedule.http import HttpClient, HttpOptions
from trigger_schedule.platforms.history import DurationCache, epoch_seconds, iso_seconds, local_seconds, median_duration


def test_median_of_the_newest_known_durations() -> None:
    assert median_duration([3.0, None, 1.0, -1.0, 2.0, 100.0], limit=3) == 2.0  # 3, 1, 2: the unknown skipped
    assert median_duration([None, -2.0]) is None and median_duration([]) is None


def test_spans_of_each_time_format() -> None:
    assert iso_seconds("2026-01-01T00:00:00Z", "2026-01-01T00:01:30.5+00:00") == 90.5
    assert iso_seconds("2026-01-01T00:00:00Z", "2026-01-01 00:01:00") is None  # one zone-less: no difference
    assert iso_seconds(None, "2026-01-01T00:00:00Z") is None and iso_seconds("soon", "later") is None
    assert local_seconds("2026-01-01 10:00:00", "2026-01-01 10:00:07.250") == 7.0
    assert local_seconds("N/A", "2026-01-01 10:00:07") is None
    assert epoch_seconds(1000, 4500, 1000.0) == 3.5
    assert epoch_seconds(None, 4500) is None and epoch_seconds(0, 5) is None and epoch_seconds(True, 5) is None


def test_one_read_per_job_and_an_error_is_none_with_a_debug_line() -> None:
    lines: list[str] = []
    cache = DurationCache("demo", HttpClient(HttpOptions(), SystemClock(), debug=lines.append))
    reads: list[str] = []

    def read(job: str, value: float | None) -> float | None:
        reads.append(job)
        if value is None:
            raise UnreachableError("the history endpoint answered 503")
        return value

    assert cache.get("a", lambda: read("a", 12.5)) == 12.5
    assert cache.get("a", lambda: read("a", 99.0)) == 12.5
    assert cache.get("b", lambda: read("b", None)) is None
    assert cache.get("b", lambda: read("b", 1.0)) is None  # the failure is remembered too: no retry storm
    assert reads == ["a", "b"]
    assert any(
        "demo: no expected duration for b: UnreachableError: the history endpoint answered 503" in x for x in lines
    )


def test_an_interrupt_is_not_swallowed() -> None:
    cache = DurationCache("demo", HttpClient(HttpOptions(), SystemClock()))

    def interrupted() -> float | None:
        raise Interrupted(2)

    with pytest.raises(Interrupted):
        cache.get("a", interrupted)
