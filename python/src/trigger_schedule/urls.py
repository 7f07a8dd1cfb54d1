"""`${VAR}` URL references: one plan serves every stage, each stage exporting its own URL."""

from __future__ import annotations

import re
from collections.abc import Mapping

from trigger_schedule.errors import ConfigError

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def resolve_url(value: str, environ: Mapping[str, str], where: str) -> str:
    """The URL itself, or the value of the variable it names, which must be an http(s) URL."""
    match = _REFERENCE.match(value)
    if not match:
        return value.rstrip("/")
    name = match.group(1)
    resolved = environ.get(name, "").rstrip("/")
    if not resolved.startswith(("http://", "https://")):
        raise ConfigError(
            f"{where} is ${{{name}}}, but {name} is " + ("not set" if not resolved else "not an http(s) URL"),
            hint=f"export {name}=https://... before running",
        )
    return resolved
