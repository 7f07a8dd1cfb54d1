"""Durations as users write them in plans and flags: `90s`, `30m`, `1h30m`, `250ms`, or plain seconds."""

from __future__ import annotations

import re

from trigger_schedule.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | float | int, where: str = "duration") -> float:
    """Seconds in `text`; a bare number is seconds."""
    if isinstance(text, bool):
        raise ConfigError(f"{where}: expected a duration such as 90s or 30m, got {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ConfigError(f"{where}: a duration cannot be negative ({text})")
        return float(text)
    value = text.strip().lower()
    try:
        return float(value)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or not value:
        raise ConfigError(
            f"{where}: {text!r} is not a duration",
            hint="write a number with a unit: 250ms, 90s, 30m, 2h, or combined like 1h30m",
        )
    return total


def format_duration(seconds: float) -> str:
    """`1m05s` style, for humans."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    if seconds < 10:
        return f"{seconds:.1f}s"
    return f"{secs}s"
