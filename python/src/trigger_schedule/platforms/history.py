"""A job's expected run time from the platform's history: the median of its last finished runs, read once."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from trigger_schedule.errors import Interrupted
from trigger_schedule.http import HttpClient

# How many recent successful runs the median is taken over.
RECENT_RUNS = 10


def median_duration(durations: Iterable[float | None], limit: int = RECENT_RUNS) -> float | None:
    """The median of the first `limit` known, non-negative durations (newest first), or None without any."""
    known = [float(d) for d in durations if d is not None and d >= 0]
    return float(statistics.median(known[:limit])) if known else None


def iso_seconds(start: object, end: object) -> float | None:
    """Seconds from one ISO-8601 timestamp to another, or None when either is missing or unreadable."""
    if not isinstance(start, str) or not isinstance(end, str) or not start or not end:
        return None
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    if (began.tzinfo is None) != (ended.tzinfo is None):
        return None
    return (ended - began).total_seconds()


def local_seconds(start: object, end: object) -> float | None:
    """Seconds between two "yyyy-MM-dd HH:mm:ss" times of one server zone (a fraction after the seconds is
    dropped), or None when either is missing or unreadable ("N/A")."""
    try:
        began, ended = (
            datetime.strptime(str(value or "").split(".")[0], "%Y-%m-%d %H:%M:%S") for value in (start, end)
        )
    except ValueError:
        return None
    return (ended - began).total_seconds()


def epoch_seconds(start: object, end: object, scale: float = 1.0) -> float | None:
    """`end - start` of two epoch numbers (milliseconds with scale 1000), or None when either is missing."""
    if isinstance(start, bool) or isinstance(end, bool):
        return None
    if not isinstance(start, int | float) or not isinstance(end, int | float) or start <= 0 or end <= 0:
        return None
    return (float(end) - float(start)) / scale


class DurationCache:
    """One history read per job within a run; any error gives None (a debug line says why), never a failure:
    the expected duration only shapes how often a run is polled."""

    def __init__(self, type_name: str, http: HttpClient) -> None:
        self._type_name = type_name
        self._http = http
        self._known: dict[str, float | None] = {}
        self._lock = threading.Lock()

    def get(self, job: str, read: Callable[[], float | None]) -> float | None:
        with self._lock:
            if job in self._known:
                return self._known[job]
        try:
            value = read()
        except Interrupted:
            raise
        except Exception as exc:  # a missing estimate must never fail the run
            self._http.debug(f"{self._type_name}: no expected duration for {job}: {type(exc).__name__}: {exc}")
            value = None
        else:
            shown = "none (no finished runs)" if value is None else f"{value:.1f}s"
            self._http.debug(f"{self._type_name}: expected duration of {job}: {shown}")
        with self._lock:
            self._known[job] = value
        return value
