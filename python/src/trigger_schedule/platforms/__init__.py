"""Platform plug-ins, discovered through the entry-point group `trigger_schedule.platforms`."""

from __future__ import annotations

from functools import lru_cache

from trigger_schedule.errors import ConfigError
from trigger_schedule.platforms.base import Platform

ENTRY_POINT_GROUP = "trigger_schedule.platforms"
# The plug-ins this package ships (its pyproject.toml registers the same, a test holds them equal): found by
# import, so a run that uses only these never scans every installed package's entry points (~10 ms).
BUILT_IN = {
    "generic": "trigger_schedule.platforms.generic:GenericPlatform",
    "airflow": "trigger_schedule.platforms.airflow:AirflowPlatform",
    "prefect": "trigger_schedule.platforms.prefect:PrefectPlatform",
    "dagster": "trigger_schedule.platforms.dagster:DagsterPlatform",
    "dolphinscheduler": "trigger_schedule.platforms.dolphinscheduler:DolphinSchedulerPlatform",
    "xxl-job": "trigger_schedule.platforms.xxl_job:XxlJobPlatform",
    "rundeck": "trigger_schedule.platforms.rundeck:RundeckPlatform",
    "argo": "trigger_schedule.platforms.argo:ArgoPlatform",
    "powerjob": "trigger_schedule.platforms.powerjob:PowerJobPlatform",
}


@lru_cache(maxsize=1)
def _registry() -> dict[str, object]:
    from importlib.metadata import entry_points  # ~10 ms: only paid when a plug-in is looked up

    found: dict[str, object] = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, target in BUILT_IN.items():  # also when running from a source tree that was never installed
        found.setdefault(name, target)
    return found


def available() -> list[str]:
    return sorted(_registry())


def _import(target: str) -> object:
    import importlib

    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load(type_name: str) -> type[Platform]:
    entry = BUILT_IN.get(type_name) or _registry().get(type_name)
    if entry is None:
        raise ConfigError(
            f"unknown platform type {type_name!r}",
            hint=f"use one of: {', '.join(available())} (or install the plug-in that provides it)",
        )
    try:
        loaded = _import(entry) if isinstance(entry, str) else entry.load()  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ConfigError(
            f"platform plug-in {type_name!r} cannot be loaded: {exc}",
            hint="reinstall trigger-schedule, or the package that provides this plug-in",
        ) from None
    if not (isinstance(loaded, type) and issubclass(loaded, Platform)):
        raise ConfigError(f"platform plug-in {type_name!r} does not provide a Platform class")
    return loaded
