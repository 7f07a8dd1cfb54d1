"""Time windows: when a trigger may start (e.g. 01:00-05:00 Asia/Shanghai on weekdays)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from trigger_schedule.errors import ConfigError
from trigger_schedule.options import schema_default

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Eight days covers every weekday once, whatever the window and time zone.
_SEARCH_DAYS = 8


@dataclass(frozen=True)
class Window:
    start: time
    end: time
    zone: ZoneInfo
    weekdays: frozenset[int]  # 0 = Monday
    outside: str  # skip | wait | defer

    @classmethod
    def from_plan(cls, raw: Mapping[str, Any], where: str) -> Window:
        try:
            zone = ZoneInfo(str(raw.get("timezone", schema_default("window", "timezone"))))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{where}.timezone: unknown time zone {raw.get('timezone')!r}",
                hint="use an IANA name such as UTC, Europe/Berlin or Asia/Shanghai",
            ) from None
        days = raw.get("weekdays") or WEEKDAYS
        return cls(
            start=_clock_time(raw["start"], f"{where}.start"),
            end=_clock_time(raw["end"], f"{where}.end"),
            zone=zone,
            weekdays=frozenset(WEEKDAYS.index(str(d).lower()[:3]) for d in days),
            outside=str(raw.get("outside", schema_default("window", "outside"))),
        )

    def describe(self) -> str:
        days = "" if len(self.weekdays) == 7 else " on " + ",".join(WEEKDAYS[d] for d in sorted(self.weekdays))
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}{days}"

    def _spans(self, around: datetime) -> Sequence[tuple[datetime, datetime]]:
        """Openings from the day before `around`, as aware datetimes; a window past midnight ends next day."""
        local = around.astimezone(self.zone)
        spans = []
        for offset in range(-1, _SEARCH_DAYS):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.weekdays:
                continue
            opens = datetime.combine(day, self.start, self.zone)
            closes = datetime.combine(day, self.end, self.zone)
            if closes <= opens:
                closes += timedelta(days=1)
            spans.append((opens, closes))
        return spans

    def is_open(self, now: datetime) -> bool:
        return any(opens <= now < closes for opens, closes in self._spans(now))

    def next_opening(self, now: datetime) -> datetime:
        upcoming = [opens for opens, _ in self._spans(now) if opens > now]
        if not upcoming:
            raise ConfigError(f"window {self.describe()} never opens", hint="list at least one weekday")
        return min(upcoming)


def _clock_time(value: Any, where: str) -> time:
    text = str(value)
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not a time of day", hint="write HH:MM, e.g. 01:30") from None
