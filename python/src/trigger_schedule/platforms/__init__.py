"""Platform plug-ins, discovered through the entry-point group `trigger_schedule.platforms`."""

from __future__ import annotations

from functools import lru_cache

from trigger_schedule.errors import ConfigError
from trigger_schedule.platforms.base import Platform

ENTRY_POINT_GROUP = "trigger_schedule.platforms"


@lru_cache(maxsize=1)
def _registry() -> dict[str, object]:
    from importlib.metadata import entry_points  # ~10 ms: only paid when a plug-in is looked up

    found: dict[str, object] = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if "generic" not in found:  # running from a source tree that was never installed
        from trigger_schedule.platforms.generic import GenericPlatform

        found["generic"] = GenericPlatform
    return found


def available() -> list[str]:
    return sorted(_registry())


def load(type_name: str) -> type[Platform]:
    if type_name == "generic":  # built in: no need to scan installed packages' entry points
        from trigger_schedule.platforms.generic import GenericPlatform

        return GenericPlatform
    entry = _registry().get(type_name)
    if entry is None:
        raise ConfigError(
            f"unknown platform type {type_name!r}",
            hint=f"use one of: {', '.join(available())} (or install the plug-in that provides it)",
        )
    try:
        loaded = entry if isinstance(entry, type) else entry.load()  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ConfigError(
            f"platform plug-in {type_name!r} cannot be loaded: {exc}",
            hint="reinstall trigger-schedule, or the package that provides this plug-in",
        ) from None
    if not (isinstance(loaded, type) and issubclass(loaded, Platform)):
        raise ConfigError(f"platform plug-in {type_name!r} does not provide a Platform class")
    return loaded
