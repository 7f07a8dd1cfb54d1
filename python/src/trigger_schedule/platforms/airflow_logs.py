"""Airflow task logs as CI log lines: which task tries to read, where each left off, how to render them.

API v1 (Airflow 2) answers a try's log as text; API v2 (Airflow 3) as a list of structured events
(`{"timestamp", "level", "event", "logger", "error_detail", ...}`), which are rendered as lines here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Task states whose log will not grow any more.
FINISHED_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed", "up_for_retry"})
# States in which the current try has not started, so it has no log yet.
NOT_STARTED_TASK_STATES = frozenset({None, "none", "scheduled", "queued", "deferred", "up_for_reschedule"})

# Airflow marks log sections with GitHub's own group commands; inside our group they would end it early.
_GROUP_START = "::group::"
_GROUP_END = "::endgroup::"
_SOURCE_DETAILS = "::group::Log message source details"
# Context every v2 event repeats; shown once in the try's header instead of on every line.
_CONTEXT_KEYS = frozenset(
    {
        "timestamp",
        "event",
        "level",
        "logger",
        "filename",
        "lineno",
        "task_id",
        "dag_id",
        "run_id",
        "try_number",
        "ti_id",
        "map_index",
        "error_detail",
        "bundle_name",
        "bundle_version",
        "sources",
    }
)


@dataclass(frozen=True)
class TryKey:
    task_id: str
    map_index: int
    try_number: int

    @property
    def label(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.task_id}{mapped} try {self.try_number}"


@dataclass(frozen=True)
class LogCursor:
    """Where each task try's log was left off: characters (v1 text) or events (v2)."""

    offsets: Mapping[TryKey, int] = field(default_factory=dict)
    # Tries seen finished once: read one last time (trailing lines land after the state), then never again.
    settling: frozenset[TryKey] = frozenset()
    done: frozenset[TryKey] = frozenset()
    fetched_at: float = float("-inf")
    quiet: int = 0  # fetches in a row that found nothing new: the next one waits longer

    def advance(self, key: TryKey, offset: int) -> LogCursor:
        return replace(self, offsets={**self.offsets, key: offset})


def tries_to_read(task_instances: Iterable[Mapping[str, Any]], cursor: LogCursor) -> list[tuple[TryKey, bool]]:
    """(try, finished) for every try with a log that may still hold unread lines, in start order."""
    ordered = sorted(
        task_instances,
        key=lambda ti: (str(ti.get("start_date") or "~"), str(ti.get("task_id")), int(ti.get("map_index", -1))),
    )
    found: list[tuple[TryKey, bool]] = []
    for ti in ordered:
        current = int(ti.get("try_number") or 0)
        state = ti.get("state")
        last = current if state not in NOT_STARTED_TASK_STATES or ti.get("start_date") else current - 1
        for number in range(1, last + 1):
            key = TryKey(str(ti["task_id"]), int(ti.get("map_index", -1)), number)
            if key not in cursor.done:
                found.append((key, number < current or state in FINISHED_TASK_STATES))
    return found


def settle(cursor: LogCursor, key: TryKey, finished: bool) -> LogCursor:
    """Mark a finished try read: the first time it is settling, the second time done."""
    if not finished:
        return cursor
    if key in cursor.settling:
        return replace(cursor, settling=cursor.settling - {key}, done=cursor.done | {key})
    return replace(cursor, settling=cursor.settling | {key})


def text_body(text: str) -> str:
    """A v1 text log without its "Log message source details" header, which differs between reads
    (a running task's adds "Could not read served logs"), so offsets count only the task's own lines."""
    start = text.find(_SOURCE_DETAILS)
    if start < 0:
        return text
    end = text.find(_GROUP_END, start)
    if end < 0:
        return ""  # the header is still being written
    newline = text.find("\n", end)
    return "" if newline < 0 else text[newline + 1 :]


def content_events(events: list[Any]) -> list[Any]:
    """v2 events without the leading source-details group (same reason as text_body)."""
    first = events[0] if events else None
    if not (isinstance(first, Mapping) and _SOURCE_DETAILS in str(first.get("event", ""))):
        return events
    for index, event in enumerate(events):
        if isinstance(event, Mapping) and _GROUP_END in str(event.get("event", "")):
            return events[index + 1 :]
    return []


def text_lines(text: str) -> list[str]:
    """A v1 text log's lines, with Airflow's group markers made harmless."""
    return [line for line in (_neutralise(raw) for raw in text.splitlines()) if line is not None]


def event_lines(events: Iterable[Any]) -> list[str]:
    """v2 structured log events as `time LEVEL - message` lines, exceptions as tracebacks."""
    lines: list[str] = []
    for event in events:
        if not isinstance(event, Mapping):
            text = _neutralise(str(event))
            if text is not None:
                lines.append(text)
            continue
        message = _neutralise(str(event.get("event", "")))
        if message is None:
            continue
        stamp = str(event.get("timestamp") or "")
        level = str(event.get("level") or "").upper()
        extras = " ".join(f"{k}={v}" for k, v in event.items() if k not in _CONTEXT_KEYS)
        head = " ".join(part for part in (stamp, level) if part)
        line = f"{head} - {message}" if head else message
        lines.append(f"{line} {extras}" if extras else line)
        lines.extend(_traceback(event.get("error_detail")))
    return lines


def _neutralise(line: str) -> str | None:
    if _GROUP_END in line:
        return None
    return line.replace(_GROUP_START, "> ")


def _traceback(detail: Any) -> list[str]:
    if not isinstance(detail, list):
        return []
    lines: list[str] = []
    for exc in detail:
        if not isinstance(exc, Mapping):
            continue
        lines.append("  Traceback (most recent call last):")
        for frame in exc.get("frames") or []:
            if isinstance(frame, Mapping):
                lines.append(f'    File "{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}')
        lines.append(f"  {exc.get('exc_type', 'Exception')}: {exc.get('exc_value', '')}")
    return lines
