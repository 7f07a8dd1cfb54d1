"""One schema, every face: each plan option is reachable as a CLI flag (and so as a TRIGGER_SCHEDULE_*
variable, which every face maps its inputs to; the faces' own tests check their side against ALL_OPTIONS)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import run_cli
from trigger_schedule.durations import parse_duration
from trigger_schedule.options import ALL_OPTIONS, TRIGGER_OPTIONS, Option, schema_default
from trigger_schedule.plan import validate
from trigger_schedule.plan_schema import base_schema
from trigger_schedule.secrets import credential_envs

# Plan keys that have no flag, and why.
PLAN_ONLY = {
    ("trigger", "needs"): "a single trigger from flags has nothing to need",
    ("trigger", "platform"): "names an entry of platforms:; with flags, --platform gives the type directly",
    ("platform", "type"): "given by --platform",
    ("platform", "headers"): "given by the repeatable --header NAME:VALUE",
    ("auth", "token-env"): "given by --token-env, which also applies to plan platforms",
    ("trigger", "force-new"): "given by --force-new, which applies to every trigger of the run",
}


def _schema_keys() -> set[tuple[str, str]]:
    defs = base_schema()["$defs"]
    keys = {("trigger", k) for k in (*defs["trigger"]["properties"], *defs["trigger-options"]["properties"])}
    keys |= {("platform", k) for k in defs["platform"]["properties"] if k not in ("auth", "tls")}
    keys |= {(section, k) for section in ("auth", "tls") for k in defs[section]["properties"]}
    return keys


def test_every_plan_option_has_a_flag() -> None:
    flagged = {(f.section, f.key) for f in TRIGGER_OPTIONS if f.key}
    missing = sorted(k for k in _schema_keys() - flagged if k not in PLAN_ONLY)
    assert missing == [], f"plan options without a flag: {missing}"


def test_no_flag_maps_to_an_option_the_schema_lacks() -> None:
    flagged = {(f.section, f.key) for f in TRIGGER_OPTIONS if f.key}
    assert sorted(flagged - _schema_keys()) == []


def test_flag_names_and_variables_follow_the_convention() -> None:
    for flag in ALL_OPTIONS:
        long = flag.flags[0]
        assert long.startswith("--") and long == long.lower()
        assert flag.env == "TRIGGER_SCHEDULE_" + long[2:].replace("-", "_").upper()
        if flag.key:
            assert long[2:] == flag.key or flag.section in ("auth", "tls") or long[2:].endswith(flag.key)
    assert len({f.env for f in ALL_OPTIONS}) == len(ALL_OPTIONS)


def test_documented_credential_defaults_are_the_ones_read() -> None:
    auth = base_schema()["$defs"]["auth"]["properties"]
    documented = tuple(auth[key]["default"] for key in ("token-env", "username-env", "password-env"))
    assert credential_envs({}) == documented
    assert credential_envs({"token-env": "MY_TOKEN"}, "FLAG_TOKEN")[0] == "MY_TOKEN"
    assert credential_envs({}, "FLAG_TOKEN")[0] == "FLAG_TOKEN"


# -- the schema is the one source of option facts --------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_schema_defaults_are_the_code_defaults() -> None:
    """A plan that sets nothing runs with exactly the defaults the schema documents."""
    plan = validate(
        {"version": 1, "platforms": {"s": {"type": "generic", "url": "http://127.0.0.1:9"}},
         "triggers": [{"name": "t", "job": "j"}]},
        "plan.yml",
    )  # fmt: skip
    (trigger,) = plan.triggers
    for key, node in base_schema()["$defs"]["trigger-options"]["properties"].items():
        if "default" not in node:
            continue
        value = getattr(trigger, key.replace("-", "_"))
        expected = node["default"]
        if node.get("$ref") == "#/$defs/duration":
            expected = parse_duration(expected)
        if key == "params":
            value = dict(value)
        assert value == expected, key
    assert trigger.retry_delay == parse_duration(schema_default("retries", "delay"))
    platform = plan.platforms["s"]
    assert platform.connect_timeout == parse_duration(schema_default("platform", "connect-timeout"))
    assert platform.read_timeout == parse_duration(schema_default("platform", "read-timeout"))
    assert platform.max_attempts == schema_default("platform", "max-attempts")
    assert plan.max_parallel == schema_default("plan", "max-parallel")


def test_help_shows_the_schema_default_of_every_option() -> None:
    for option in ALL_OPTIONS:
        if option.default is not None:
            shown = str(option.default).lower() if isinstance(option.default, bool) else str(option.default)
            assert f"(default: {shown})" in option.help, option.flags[0]


def _block_value(node: dict[str, Any]) -> str:
    if node.get("type") == "array":
        return "[{expr: 'true'}]" if "$ref" in node.get("items", {}) else "['*']"
    if "enum" in node:
        return str(node["enum"][0])
    if "$ref" in node:
        return "{expr: 'true'}"
    return "'true'"


@pytest.mark.parametrize("key", list(Option(("--when",), key="when").block_keys))
def test_the_cli_reads_every_condition_block_the_schema_allows(key: str) -> None:
    """`--when 'KEY: ...'` is a structured block for every key the schema's condition map has, not CEL text."""
    (block,) = [b for b in base_schema()["$defs"]["condition"]["oneOf"] if b.get("type") == "object"]
    when = f"{key}: {_block_value(block['properties'][key])}"
    done = run_cli("trigger", "--dry-run", "--platform", "generic", "--url", "http://127.0.0.1:9", "--job", "j",
                   "--when", when, "--deploy-version", "1.3.0", "--previous-version", "1.2.0")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(rf"\b{key}\b", done.stdout), done.stdout  # the block's own explanation, not a CEL error


def test_gitlab_inputs_check_what_the_schema_checks() -> None:
    """Each input's regex is the schema's pattern (or empty, for not given); each enum its options."""
    header = (ROOT / "gitlab-templates" / "templates" / "trigger-schedule.yml").read_text(encoding="utf-8")
    inputs = yaml.safe_load(header.split("\n---\n", 1)[0])["spec"]["inputs"]
    for option in ALL_OPTIONS:
        spec = inputs[option.gitlab_input]
        if option.pattern:  # an input with a default of its own need not accept empty
            assert spec["regex"] in (f"^$|{option.pattern}", option.pattern), option.name
        if option.enum:
            assert spec["options"] == ["", *option.enum], option.name
    url = re.compile(inputs["url"]["regex"])
    assert url.match("${SCHEDULER_URL}") and url.match("https://scheduler.example") and url.match("")
    assert not url.match("ftp://scheduler.example")


def test_readme_tables_are_generated() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_platform_describes_its_capabilities_and_they_match_its_class() -> None:
    from trigger_schedule import platforms

    for name in platforms.available():
        plugin = platforms.load(name)
        keys = {"adopts", "waits", "logs", "cancel", "defers", "concurrency", "batch"}
        assert set(plugin.capabilities) == keys, name
        assert (plugin.capabilities["defers"] != "no") == plugin.can_defer, name
        assert plugin.capabilities["batch"].startswith("no") == (plugin.batch_status_limit == 0), name


def test_the_built_in_platforms_are_the_ones_pyproject_registers() -> None:
    import tomllib
    from trigger_schedule.platforms import BUILT_IN

    pyproject = tomllib.loads((ROOT / "python" / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["entry-points"]["trigger_schedule.platforms"] == BUILT_IN
