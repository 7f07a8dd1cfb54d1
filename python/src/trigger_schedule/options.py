"""The option model: every CLI flag, with what the plan schema says of it (type, default, enum, pattern,
description) and the name each face gives it (env var, GitHub and GitLab input, Jenkins key).

The schema is the one source of option facts. This table adds only what the schema cannot say: the flag's
spelling, which plan key it sets, its argparse shape, and the help of the options that are no plan key (the run's
own, such as --config). `cli`, the faces' generators, the Jenkins metadata and the README tables read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from trigger_schedule.plan_schema import base_schema

ENV_PREFIX = "TRIGGER_SCHEDULE_"
DEFAULT_PLAN = ".trigger-schedule.yml"

# Where the options of each section live in the schema.
_SECTION_DEFS = {"trigger": "trigger-options", "platform": "platform", "auth": "auth", "tls": "tls"}
# A flag's own GitLab input name, where it is not the flag's (the input names a CI/CD variable).
_GITLAB_NAMES = {"token-env": "token-variable"}


@dataclass(frozen=True)
class Option:
    """One CLI option; `key` is the plan key it sets (kebab-case) in its `section`, where it is one."""

    flags: tuple[str, ...]
    text: str | None = None  # help for an option the schema does not describe
    kind: str = "str"  # argparse shape: str | bool (tri-state) | multi (repeatable) | switch (store_true)
    key: str | None = None
    section: str = "trigger"  # trigger | platform | auth | tls | run
    metavar: str | None = None
    schema_path: tuple[str, ...] | None = None  # where a `run` option's facts are, if anywhere

    # -- names ---------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The flag without dashes: the GitHub input's name, and the GitLab input's unless renamed."""
        return self.flags[0].removeprefix("--")

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def gitlab_input(self) -> str:
        return _GITLAB_NAMES.get(self.name, self.name)

    @property
    def jenkins_key(self) -> str:
        return re.sub(r"-(.)", lambda m: m.group(1).upper(), self.name)

    # -- facts from the schema -------------------------------------------------------------------

    @cached_property
    def node(self) -> dict[str, Any]:
        """The option's schema, `$ref` resolved (the referring node's own keys, such as default, win)."""
        path = self.schema_path
        if path is None and self.key is not None and self.section in _SECTION_DEFS:
            path = ("$defs", _SECTION_DEFS[self.section], "properties", self.key)
            if self.section == "trigger" and self.key in base_schema()["$defs"]["trigger"]["properties"]:
                path = ("$defs", "trigger", "properties", self.key)
        if path is None:
            return {}
        node: Any = base_schema()
        for part in path:
            node = node[part]
        return _resolved(node)

    @property
    def default(self) -> Any:
        return self.node.get("default")

    @property
    def enum(self) -> list[Any] | None:
        return self.node.get("enum")

    @property
    def types(self) -> set[str]:
        """The JSON types the option's value may have (a oneOf contributes each branch's)."""
        found = {self.node["type"]} if "type" in self.node else set()
        for branch in self.node.get("oneOf", []):
            if "type" in branch:
                found.add(branch["type"])
        return found

    @property
    def pattern(self) -> str | None:
        """The pattern a string value must match (a oneOf's string branch counts)."""
        if "pattern" in self.node:
            return str(self.node["pattern"])
        for branch in self.node.get("oneOf", []):
            if branch.get("type") == "string" and "pattern" in branch:
                return str(branch["pattern"])
        return None

    @property
    def takes_yaml(self) -> bool:
        """The value is a map or a list: given as YAML or JSON text on the command line and in faces."""
        return bool(self.types & {"object", "array"}) and self.kind != "multi"

    @property
    def block_keys(self) -> tuple[str, ...]:
        """For a value that may be a string or a map (a condition): the keys that start a YAML block."""
        keys: list[str] = []
        for branch in self.node.get("oneOf", []):
            if branch.get("type") == "object":
                keys += list(branch.get("properties", {}))
        return tuple(keys)

    @property
    def help(self) -> str:
        """The help line: the schema's description (else the table's text), with the default the schema gives."""
        description = self.node.get("description")
        text = (description[0].lower() + description[1:]).rstrip(".") if description else (self.text or "")
        if self.default is not None and "(default:" not in text:
            shown = str(self.default).lower() if isinstance(self.default, bool) else self.default
            text += f" (default: {shown})"
        return text


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    for _ in range(8):  # a chain of references; the schema has no cycles on these paths
        ref = node.get("$ref")
        if not ref:
            return node
        target: Any = base_schema()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


# Trigger options with no flag of their own: `platform` names an entry of platforms: (with flags, --platform is
# the type), and `force-new` applies to the whole run (--force-new, below).
_NOT_TRIGGER_FLAGS = ("platform", "force-new")
_METAVARS = {
    frozenset({"object"}): "MAP",
    frozenset({"array"}): "LIST",
    frozenset({"integer", "object"}): "N|MAP",
    frozenset({"string", "boolean", "object"}): "EXPR",
}


def _schema_trigger_options() -> tuple[Option, ...]:
    """A flag for every per-trigger option of the schema, in its order: a new option there is a new flag, variable,
    face input and Jenkins key, with nothing else to edit."""
    options = []
    for key in base_schema()["$defs"]["trigger-options"]["properties"]:
        if key in _NOT_TRIGGER_FLAGS:
            continue
        option = Option((f"--{key}",), key=key)
        kind = "bool" if option.types == {"boolean"} else "str"
        options.append(Option((f"--{key}",), key=key, kind=kind, metavar=_METAVARS.get(frozenset(option.types))))
    return tuple(options)


# Options of one trigger, and of the platform it runs on (a single trigger from flags builds that plan).
TRIGGER_OPTIONS: tuple[Option, ...] = (
    Option(("--platform",), "platform type for a single trigger (default: generic)", metavar="TYPE"),
    Option(("--url",), section="platform", key="url"),
    Option(("--job",), key="job"),
    Option(("--name",), key="name"),
    Option(
        ("--param",),
        "job parameter KEY=VALUE (a string; repeatable; env: one per line)",
        kind="multi",
        metavar="KEY=VALUE",
    ),
    *_schema_trigger_options(),
    Option(("--description",), key="description"),
    Option(("--auth-type",), section="auth", key="type"),
    Option(("--token-file",), section="auth", key="token-file", metavar="PATH"),
    Option(("--username-env",), section="auth", key="username-env", metavar="NAME"),
    Option(("--password-env",), section="auth", key="password-env", metavar="NAME"),
    Option(("--auth-header",), section="auth", key="header"),
    Option(("--oidc-audience",), section="auth", key="audience"),
    Option(("--id-token-env",), section="auth", key="id-token-env", metavar="NAME"),
    Option(("--oidc-exchange",), section="auth", key="exchange", metavar="MAP"),
    Option(("--ca-bundle",), section="tls", key="ca-bundle", metavar="PATH"),
    Option(("--client-cert",), section="tls", key="client-cert", metavar="PATH"),
    Option(("--client-key",), section="tls", key="client-key", metavar="PATH"),
    Option(("--insecure",), kind="switch", section="tls", key="insecure"),
    Option(
        ("--header",),
        "extra header NAME:VALUE (repeatable; env: one per line)",
        kind="multi",
        section="platform",
        metavar="NAME:VALUE",
    ),
    Option(("--connect-timeout",), section="platform", key="connect-timeout"),
    Option(("--read-timeout",), section="platform", key="read-timeout"),
    Option(("--max-attempts",), section="platform", key="max-attempts"),
    Option(("--platform-options",), section="platform", key="options", metavar="MAP"),
)

# Options of the run as a whole: the plan file, the deploy context, reports.
RUN_OPTIONS: tuple[Option, ...] = (
    Option(("--config", "-c"), f"plan file (default: {DEFAULT_PLAN})", section="run", metavar="PATH"),
    Option(
        ("--only",),
        "run only these triggers (comma-separated; with their needs satisfied)",
        section="run",
        metavar="NAMES",
    ),
    Option(("--token-env",), section="run", metavar="NAME", schema_path=("$defs", "auth", "properties", "token-env")),
    Option(("--environment",), "deploy environment (default: the CI's, e.g. CI_ENVIRONMENT_NAME)", section="run"),
    Option(("--deploy-version",), "deployed version (default: the tag, else the short SHA)", section="run"),
    Option(("--previous-version",), "version deployed before this one", section="run"),
    Option(("--deploy-status",), "deploy outcome (default: success)", section="run"),
    Option(("--deploy-strategy",), "rolling, blue-green, canary, ...", section="run"),
    Option(("--deploy-time",), "deploy time, ISO-8601 (default: now)", section="run"),
    Option(("--deploy-url",), "URL of the deployed application", section="run"),
    Option(("--previous-sha",), "commit of the previous deploy, for changes.files", section="run", metavar="SHA"),
    Option(
        ("--var",),
        "expression variable KEY=VALUE, as vars.KEY (repeatable; env: one per line)",
        kind="multi",
        section="run",
        metavar="KEY=VALUE",
    ),
    Option(
        ("--force-new",),
        kind="switch",
        section="run",
        schema_path=("$defs", "trigger-options", "properties", "force-new"),
    ),
    Option(("--dry-run",), "evaluate and print the requests without sending them", kind="switch", section="run"),
    Option(("--max-parallel",), section="run", metavar="N", schema_path=("properties", "max-parallel")),
    Option(("--result-file",), "write the result JSON here", section="run", metavar="PATH"),
    Option(("--junit-file",), "write a JUnit report here", section="run", metavar="PATH"),
    Option(("--audit-file",), "append one JSON line per decision here", section="run", metavar="PATH"),
    Option(
        ("--dotenv-file",),
        "write TRIGGER_SCHEDULE_STATUS/RUN_ID/RUN_URL here (GitLab dotenv)",
        section="run",
        metavar="PATH",
    ),
    Option(("--debug",), "log each request, credentials redacted (also RUNNER_DEBUG=1)", kind="switch", section="run"),
)

ALL_OPTIONS = TRIGGER_OPTIONS + RUN_OPTIONS


def schema_default(definition: str, key: str) -> Any:
    """The default the schema gives `key` of the object `$defs/<definition>` (its map branch, if a oneOf);
    `definition` "plan" is the plan's top level."""
    schema = base_schema()
    node = schema if definition == "plan" else schema["$defs"][definition]
    if "properties" not in node:
        node = next(branch for branch in node["oneOf"] if branch.get("type") == "object")
    return node["properties"][key]["default"]


def trigger_defaults() -> dict[str, Any]:
    """Every per-trigger option's default, as the schema gives it (a plan's `defaults:` go on top)."""
    options = base_schema()["$defs"]["trigger-options"]["properties"]
    found = {key: node["default"] for key, node in options.items() if "default" in node}
    return {"when": None, **found}


# -- the Jenkins step's keys ------------------------------------------------------------------------

# Keys of the step itself, not of the CLI (jenkins-shared-lib/vars/triggerSchedule.txt).
JENKINS_STEP_KEYS = ("credentialsId", "oidcCredentialsId", "installSpec", "cliPath", "python", "confirm")
JENKINS_KEYS_ENV = ENV_PREFIX + "JENKINS_KEYS"


def multi_separator(option: Option) -> str | None:
    """What joins KEY and VALUE in one entry of a repeatable option (`=` or `:`), from its metavar."""
    if option.kind != "multi" or not option.metavar:
        return None
    return "=" if "=" in option.metavar else ":"


def jenkins_metadata() -> dict[str, Any]:
    """What the Jenkins step needs to map its keys to the CLI's variables (resources/.../options.json)."""
    keys: dict[str, dict[str, Any]] = {}
    for option in ALL_OPTIONS:
        entry: dict[str, Any] = {"env": option.env}
        if option.takes_yaml:
            entry["json"] = True  # a Map or List goes as JSON, so types survive
        separator = multi_separator(option)
        if separator:
            entry["separator"] = separator  # a List gives one line each, a Map one KEY<sep>VALUE line each
        keys[option.jenkins_key] = entry
    return {"options": keys, "stepKeys": list(JENKINS_STEP_KEYS)}


def jenkins_key_problems(shapes: dict[str, str]) -> list[str]:
    """What is wrong with the keys given to the Jenkins step: `shapes` maps each key to the kind of its
    Groovy value (value, list or map). Unknown keys get a did-you-mean; a list for a single value is named."""
    import difflib

    options = {option.jenkins_key: option for option in ALL_OPTIONS}
    known = [*options, *JENKINS_STEP_KEYS]
    problems = []
    for key, shape in shapes.items():
        if key not in options and key not in JENKINS_STEP_KEYS:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            problems.append(f"unknown key '{key}'.{hint} Keys: {', '.join(known)} (see triggerSchedule.txt).")
        elif key in options and shape in ("list", "map"):
            option = options[key]
            if not option.takes_yaml and option.kind != "multi":
                problems.append(f"'{key}' takes a single value, not a list or map")
    return problems
