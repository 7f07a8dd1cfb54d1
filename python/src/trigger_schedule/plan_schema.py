"""The plan's JSON Schema: the shipped base, plus each installed platform's `options:` schema."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from trigger_schedule.errors import ConfigError


@lru_cache(maxsize=1)
def base_schema() -> dict[str, Any]:
    text = resources.files("trigger_schedule").joinpath("schema/plan.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def full_schema() -> dict[str, Any]:
    """Base schema with each installed platform's `options:` schema (what `trigger-schedule schema` prints)."""
    from trigger_schedule import platforms  # the plug-ins, only where their schemas are wanted

    return schema_for(tuple(platforms.available()), strict_types=True)


@lru_cache(maxsize=8)
def schema_for(types: tuple[str, ...], strict_types: bool = False) -> dict[str, Any]:
    """Base schema with `if type == X then options: <X's schema>` for the given platform types.

    Validating a plan needs only the types it uses, so other plug-ins are never imported.
    """
    from trigger_schedule import platforms

    schema = copy.deepcopy(base_schema())
    platform_def = schema["$defs"]["platform"]
    branches = []
    names = []
    for name in types:
        try:
            plugin = platforms.load(name)
        except ConfigError:
            continue  # reported by the plan's own check, with the available types
        names.append(name)
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"options": plugin.options_schema}},
            }
        )
    if strict_types:
        platform_def["properties"]["type"]["enum"] = names
    platform_def["allOf"] = branches
    return schema


def trigger_option_names() -> list[str]:
    """Every per-trigger option, in schema order: the contract each CI face must expose."""
    defs = base_schema()["$defs"]
    return [*defs["trigger"]["properties"], *defs["trigger-options"]["properties"]]


def known_keys(section: str) -> list[str]:
    """Allowed keys of one object in the plan, for 'did you mean' hints."""
    schema = base_schema()
    defs = schema["$defs"]
    table: dict[str, list[str]] = {
        "plan": list(schema["properties"]),
        "platform": list(defs["platform"]["properties"]),
        "auth": list(defs["auth"]["properties"]),
        "tls": list(defs["tls"]["properties"]),
        "defaults": list(defs["trigger-options"]["properties"]),
        "trigger": trigger_option_names(),
    }
    return table[section]
