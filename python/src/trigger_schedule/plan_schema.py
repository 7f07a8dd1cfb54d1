"""The plan's JSON Schema: the shipped base, plus each installed platform's `options:` schema."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from trigger_schedule import platforms
from trigger_schedule.errors import ConfigError


@lru_cache(maxsize=1)
def base_schema() -> dict[str, Any]:
    text = resources.files("trigger_schedule").joinpath("schema/plan.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@lru_cache(maxsize=1)
def full_schema() -> dict[str, Any]:
    """Base schema with `if type == X then options: <X's schema>` for every platform plug-in."""
    schema = copy.deepcopy(base_schema())
    platform_def = schema["$defs"]["platform"]
    branches = []
    names = []
    for name in platforms.available():
        try:
            plugin = platforms.load(name)
        except ConfigError:
            continue  # a broken third-party plug-in must not break plans that do not use it
        names.append(name)
        branches.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"options": plugin.options_schema}},
            }
        )
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
