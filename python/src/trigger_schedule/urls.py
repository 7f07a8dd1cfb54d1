"""`${VAR}` URL references: one plan serves every stage, each stage exporting its own URL."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping

from trigger_schedule.errors import ConfigError

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def is_reference(value: str) -> bool:
    return bool(_REFERENCE.match(value))


def url_problem(value: str) -> str | None:
    """What keeps `value` from being a URL a request can go to (scheme, host, port), or None."""
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"{value!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{value!r} does not start with http:// or https://"
    if not parts.hostname:
        return f"{value!r} names no host"
    if port == 0:
        return f"{value!r} names port 0"
    if any(c.isspace() for c in value):
        return f"{value!r} contains white space"
    return None


def resolve_url(value: str, environ: Mapping[str, str], where: str) -> str:
    """The URL itself, or the value of the variable it names; either must be an http(s) URL with a host."""
    match = _REFERENCE.match(value)
    if not match:
        problem = url_problem(value)
        if problem:
            raise ConfigError(f"{where}: {problem}", hint="write the base URL, such as https://scheduler.example:8080")
        return value.rstrip("/")
    name = match.group(1)
    resolved = environ.get(name, "").rstrip("/")
    problem = url_problem(resolved) if resolved else "not set"
    if problem:
        raise ConfigError(
            f"{where} is ${{{name}}}, but {name} is " + ("not set" if not resolved else problem),
            hint=f"export {name}=https://... before running",
        )
    return resolved
