"""Load and validate a trigger plan; report every problem at once with file, line and key path."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trigger_schedule import plan_schema, urls
from trigger_schedule.durations import parse_duration
from trigger_schedule.errors import ConfigError
from trigger_schedule.gate import Gate
from trigger_schedule.loading import KeyPath, Problem, format_path, parse_yaml, read_text
from trigger_schedule.options import schema_default, trigger_defaults
from trigger_schedule.window import Window

if TYPE_CHECKING:
    from trigger_schedule.platforms.base import Platform

TRIGGER_DEFAULTS: dict[str, Any] = trigger_defaults()


class PlanInvalid(ConfigError):
    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        head = f"the plan has {count} problem{'s' if count != 1 else ''}; nothing was triggered"
        super().__init__(head + "\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    type: str
    url: str
    auth: Mapping[str, Any] = field(default_factory=dict)
    tls: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    job: str
    platform: str
    params: Mapping[str, Any]
    labels: Mapping[str, str]
    when: Any
    needs: tuple[str, ...]
    wait: bool
    timeout: float
    on_timeout: str
    cancel_on_interrupt: bool
    force_new: bool
    poll_interval: float
    poll_max_interval: float
    logs: bool
    description: str
    where: str  # "file:line triggers[i]" prefix for errors found while running
    # Strategies: their defaults are the schema's (options.trigger_defaults); None means not configured.
    delay: float
    concurrency: str
    retries: int
    retry_delay: float
    notify: tuple[Mapping[str, Any], ...]
    gate: Gate | None = None
    window: Window | None = None
    on_failure: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    source: str
    platforms: Mapping[str, PlatformSpec]
    triggers: tuple[TriggerSpec, ...]
    max_parallel: int


# -- validation -----------------------------------------------------------------------------


class _Collector:
    def __init__(self, source: str, lines: Mapping[KeyPath, int], flag_names: Mapping[str, str] | None) -> None:
        self.source = source
        self.lines = lines
        self.flag_names = flag_names or {}
        self.problems: list[Problem] = []
        self.keys_checked: set[KeyPath] = set()  # objects whose unknown keys were reported, with did-you-mean

    def add(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        line = None
        probe = path
        while probe not in self.lines and probe:
            probe = probe[:-1]
        line = self.lines.get(probe)
        shown = format_path(path)
        shown = self.flag_names.get(shown, shown)
        problem = Problem(self.source, line, shown, message, hint)
        if problem not in self.problems:
            self.problems.append(problem)

    def where(self, path: KeyPath) -> str:
        line = self.lines.get(path)
        shown = format_path(path)
        shown = self.flag_names.get(shown, shown)
        return f"{self.source}:{line} {shown}" if line else f"{self.source} {shown}"


def _unknown_keys(data: Any, known: list[str], path: KeyPath, out: _Collector) -> None:
    out.keys_checked.add(path)
    if not isinstance(data, Mapping):
        return
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(known)}"
            out.add((*path, key), f"unknown key '{key}'", hint)


def _schema_problems(data: Any, out: _Collector) -> None:
    import jsonschema

    declared = data.get("platforms") if isinstance(data, Mapping) else None
    entries = declared.values() if isinstance(declared, Mapping) else ()
    types = sorted({str(p.get("type")) for p in entries if isinstance(p, Mapping) and p.get("type")})
    validator = jsonschema.Draft202012Validator(plan_schema.schema_for(tuple(types)))
    for error in validator.iter_errors(data):
        for leaf in _leaves(error):
            if leaf.validator in ("additionalProperties", "unevaluatedProperties"):
                # Every closed object, at any depth (gate, window, retries, notify, a platform's options...).
                path = tuple(leaf.absolute_path)
                if path not in out.keys_checked and isinstance(leaf.schema, Mapping):
                    _unknown_keys(leaf.instance, list(leaf.schema.get("properties", {})), path, out)
                continue
            if "when" in leaf.absolute_path:
                continue  # check_when explains condition problems clause by clause
            out.add(tuple(leaf.absolute_path), _describe(leaf), _hint_for(leaf))


def _leaves(error: Any) -> list[Any]:
    """For oneOf/anyOf, the most relevant branch errors instead of 'is not valid under any'."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        import jsonschema

        # A mapping given where a number or a mapping may go: the mapping branch's errors say what is wrong.
        branches = error.validator_value if isinstance(error.validator_value, list) else []
        maps = [i for i, b in enumerate(branches) if isinstance(b, Mapping) and b.get("type") == "object"]
        if isinstance(error.instance, Mapping) and len(maps) == 1:
            inner = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == maps[0]]
            if inner:
                return [leaf for e in inner for leaf in _leaves(e)]

        best = jsonschema.exceptions.best_match(error.context)
        if best.validator in ("type", "pattern") and best.validator_value in ("string", "object", "boolean", "number"):
            return [error]
        return _leaves(best)
    return [error]


def _describe(error: Any) -> str:
    kind = error.validator
    value = error.instance
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required key '{missing}'"
    if kind == "type":
        return f"expected {_type_words(error.validator_value)}, got {_type_words(type(value).__name__)} {value!r}"
    if kind == "enum":
        return f"expected one of {', '.join(map(repr, error.validator_value))}, got {value!r}"
    if kind == "const":
        return f"expected {error.validator_value!r}, got {value!r}"
    if kind == "pattern":
        return f"{value!r} does not have the expected form"
    if kind in ("oneOf", "anyOf") and str(error.schema.get("description", "")).startswith("A duration"):
        return f"{value!r} is not a duration"
    if kind in ("oneOf", "anyOf"):
        description = error.schema.get("description", "")
        return f"{value!r} is not valid here" + (f": {description}" if description else "")
    return error.message  # type: ignore[no-any-return]


def _type_words(kind: Any) -> str:
    names = {
        "object": "a mapping",
        "dict": "a mapping",
        "array": "a list",
        "list": "a list",
        "string": "a string",
        "str": "a string",
        "boolean": "true or false",
        "bool": "true or false",
        "integer": "a whole number",
        "int": "a whole number",
        "number": "a number",
        "float": "a number",
        "null": "null",
        "NoneType": "nothing",
    }
    if isinstance(kind, list):
        return " or ".join(names.get(str(k), str(k)) for k in kind)
    return names.get(kind, str(kind))


def _hint_for(error: Any) -> str | None:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "pattern" and "ms|s|m|h|d" in str(schema.get("pattern", "")):
        return "write a duration such as 90s, 30m or 1h30m"
    if error.validator == "pattern" and "https?" in str(schema.get("pattern", "")):
        return "write the scheduler's base URL starting with http:// or https://"
    description = str(schema.get("description") or "")
    if description.startswith("A duration"):
        return "write a duration such as 250ms, 90s, 30m, 2h or 1h30m"
    return description if description and error.validator not in ("oneOf", "anyOf") else None


def validate(
    data: Any,
    source: str,
    lines: Mapping[KeyPath, int] | None = None,
    *,
    flag_names: Mapping[str, str] | None = None,
) -> Plan:
    """Check a loaded plan; raise PlanInvalid with every problem, or return the typed Plan."""
    out = _Collector(source, lines or {}, flag_names)
    if not isinstance(data, Mapping):
        out.add((), "the plan must be a mapping with version: 1 and triggers:", "see the README's plan reference")
        raise PlanInvalid(out.problems)
    _unknown_keys(data, plan_schema.known_keys("plan"), (), out)
    for name, platform in (data.get("platforms") or {}).items() if isinstance(data.get("platforms"), Mapping) else []:
        _unknown_keys(platform, plan_schema.known_keys("platform"), ("platforms", name), out)
        if isinstance(platform, Mapping):
            _unknown_keys(platform.get("auth"), plan_schema.known_keys("auth"), ("platforms", name, "auth"), out)
            _unknown_keys(platform.get("tls"), plan_schema.known_keys("tls"), ("platforms", name, "tls"), out)
            _platform_option_keys(platform, ("platforms", name), out)
    _unknown_keys(data.get("defaults"), plan_schema.known_keys("defaults"), ("defaults",), out)
    triggers = data.get("triggers")
    if isinstance(triggers, list):
        for i, trigger in enumerate(triggers):
            _unknown_keys(trigger, plan_schema.known_keys("trigger"), ("triggers", i), out)
    _schema_problems(data, out)
    if out.problems:
        # Still look for reference and expression problems, so the user sees every problem in one go.
        with contextlib.suppress(KeyError, TypeError, ValueError, AttributeError, ConfigError):
            _build(data, source, out)
        raise PlanInvalid(out.problems)
    plan = _build(data, source, out)
    if out.problems:
        raise PlanInvalid(out.problems)
    return plan


def _platform_option_keys(platform: Mapping[str, Any], path: KeyPath, out: _Collector) -> None:
    from trigger_schedule import platforms

    type_name = platform.get("type")
    if not isinstance(type_name, str):
        return
    try:
        schema = platforms.load(type_name).options_schema
    except ConfigError as exc:
        out.add((*path, "type"), exc.message, exc.hint)
        return
    if schema.get("additionalProperties") is False:
        _unknown_keys(platform.get("options"), list(schema.get("properties", {})), (*path, "options"), out)


def _check_url(value: Any, path: KeyPath, out: _Collector) -> None:
    """A URL written in the plan must be one a request can go to; a ${VAR} is checked when it is read."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):  # else the schema says what
        problem = urls.url_problem(value)
        if problem:
            out.add(path, problem, "write the base URL with its host, such as https://scheduler.example:8080")


def _platform_specs(data: Mapping[str, Any], out: _Collector) -> dict[str, PlatformSpec]:
    for name, p in (data.get("platforms") or {}).items():
        _check_url(p.get("url"), ("platforms", name, "url"), out)
    return {
        name: PlatformSpec(
            name=name,
            type=p["type"],
            url=p["url"].rstrip("/"),
            auth=p.get("auth") or {},
            tls=p.get("tls") or {},
            headers=p.get("headers") or {},
            connect_timeout=_duration(p.get("connect-timeout", schema_default("platform", "connect-timeout"))),
            read_timeout=_duration(p.get("read-timeout", schema_default("platform", "read-timeout"))),
            max_attempts=int(p.get("max-attempts", schema_default("platform", "max-attempts"))),
            options=p.get("options") or {},
        )
        for name, p in (data.get("platforms") or {}).items()
    }


def _build(data: Mapping[str, Any], source: str, out: _Collector) -> Plan:
    platform_specs = _platform_specs(data, out)
    defaults = {**TRIGGER_DEFAULTS, **(data.get("defaults") or {})}
    default_platform = defaults.get("platform") or (next(iter(platform_specs)) if len(platform_specs) == 1 else None)
    _check_default_platform(data, defaults, platform_specs, out)
    raw_triggers = [t for t in data.get("triggers") or [] if isinstance(t, Mapping)]
    names = _trigger_names(raw_triggers, out)
    triggers: list[TriggerSpec] = []
    graph: dict[str, list[str]] = {}
    for i, raw in enumerate(raw_triggers):
        path: KeyPath = ("triggers", i)
        merged = {**defaults, **raw}
        platform = merged.get("platform") or default_platform
        _check_trigger(merged, path, platform, platform_specs, out)
        needs = [str(n) for n in raw.get("needs") or ()]
        graph[str(raw.get("name", ""))] = needs
        _check_needs(needs, names, path, out)
        triggers.append(
            TriggerSpec(
                name=raw["name"],
                job=raw["job"],
                platform=platform or "",
                params=merged.get("params") or {},
                labels=dict(merged["labels"]),
                when=merged.get("when"),
                needs=tuple(needs),
                wait=bool(merged["wait"]),
                timeout=_duration(merged["timeout"]),
                on_timeout=merged["on-timeout"],
                cancel_on_interrupt=bool(merged["cancel-on-interrupt"]),
                force_new=bool(merged["force-new"]),
                poll_interval=_duration(merged["poll-interval"]),
                poll_max_interval=_duration(merged["poll-max-interval"]),
                logs=bool(merged["logs"]),
                description=raw.get("description", ""),
                where=out.where(path),
                **_strategies(merged, path, platform_specs.get(platform or ""), platform_specs, out),
            )
        )
    _check_cycle(graph, names, out)
    return Plan(
        source=source,
        platforms=platform_specs,
        triggers=tuple(triggers),
        max_parallel=int(data.get("max-parallel", schema_default("plan", "max-parallel"))),
    )


def _check_default_platform(
    data: Mapping[str, Any], defaults: Mapping[str, Any], platform_specs: Mapping[str, PlatformSpec], out: _Collector
) -> None:
    if data.get("defaults", {}).get("platform") and defaults["platform"] not in platform_specs:
        out.add(
            ("defaults", "platform"),
            f"no platform named '{defaults['platform']}'",
            _choices_hint(defaults["platform"], list(platform_specs)),
        )


def _check_cycle(graph: Mapping[str, list[str]], names: Mapping[str, int], out: _Collector) -> None:
    cycle = find_cycle(graph)
    if cycle:
        out.add(
            ("triggers", names[cycle[0]], "needs"),
            "needs form a cycle: " + " -> ".join(cycle),
            "remove one of these needs",
        )


def _trigger_names(raw_triggers: list[Mapping[str, Any]], out: _Collector) -> dict[str, int]:
    """Each trigger name and where it first appears; a name used twice is a problem."""
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_triggers):
        name = str(raw.get("name", ""))
        if name in names:
            out.add(
                ("triggers", i, "name"),
                f"trigger name '{name}' is used twice (also triggers[{names[name]}])",
                "give every trigger a unique name",
            )
        names.setdefault(name, i)
    return names


def _check_trigger(
    merged: Mapping[str, Any],
    path: KeyPath,
    platform: str | None,
    platform_specs: Mapping[str, PlatformSpec],
    out: _Collector,
) -> None:
    """The trigger's platform exists; its `when:` and `params` templates compile."""
    from trigger_schedule.conditions import check_when
    from trigger_schedule.templating import check_templates

    if platform is None:
        out.add(
            path,
            "no platform for this trigger",
            "set platform: on the trigger or in defaults (needed when the plan has several platforms)",
        )
    elif platform not in platform_specs:
        out.add((*path, "platform"), f"no platform named '{platform}'", _choices_hint(platform, list(platform_specs)))
    for key, check in (("when", check_when), ("params", check_templates)):
        where = out.where((*path, key))
        for problem in check(merged.get(key) or ({} if key == "params" else None), where):
            out.add((*path, key), _without_prefix(problem.message, where), problem.hint)


def _check_needs(needs: list[str], names: Mapping[str, int], path: KeyPath, out: _Collector) -> None:
    for need in needs:
        if need not in names:
            out.add(
                (*path, "needs"),
                f"needs '{need}', which is not a trigger in this plan",
                _choices_hint(need, list(names)),
            )


def _strategies(
    merged: Mapping[str, Any],
    path: KeyPath,
    platform: PlatformSpec | None,
    platform_specs: Mapping[str, PlatformSpec],
    out: _Collector,
) -> dict[str, Any]:
    """Gate, delay, window, concurrency, retries, compensation and notifications of one trigger."""
    from trigger_schedule import platforms

    found: dict[str, Any] = {"delay": _duration(merged["delay"]), "concurrency": merged["concurrency"]}
    plugin = None
    if platform is not None:
        with contextlib.suppress(ConfigError):
            plugin = platforms.load(platform.type)
    if merged.get("gate"):
        raw = merged["gate"]
        _check_url(raw.get("url"), (*path, "gate", "url"), out)
        status = raw.get("expect-status", schema_default("gate", "expect-status"))
        found["gate"] = Gate(
            url=raw["url"],
            expect_status=tuple(status) if isinstance(status, list) else (int(status),),
            json_pointer=raw.get("json-pointer"),
            expect_value=raw.get("expect-value"),
            interval=_duration(raw.get("interval", schema_default("gate", "interval"))),
            timeout=_duration(raw.get("timeout", schema_default("gate", "timeout"))),
            headers=raw.get("headers") or {},
            ca_bundle=raw.get("ca-bundle"),
        )
    if merged.get("window"):
        try:
            found["window"] = Window.from_plan(merged["window"], format_path((*path, "window")))
        except ConfigError as exc:
            out.add((*path, "window"), exc.message, exc.hint)
    if plugin:
        _check_capabilities(plugin, found, path, out)
    retries = merged["retries"]
    if isinstance(retries, Mapping):
        found["retries"] = int(retries["count"])  # required by the schema
        found["retry_delay"] = _duration(retries.get("delay", schema_default("retries", "delay")))
    else:
        found["retries"] = int(retries or 0)
        found["retry_delay"] = _duration(schema_default("retries", "delay"))
    compensation = merged.get("on-failure")
    if compensation:
        _check_compensation(compensation, path, platform_specs, out)
        found["on_failure"] = compensation
    found["notify"] = tuple(merged.get("notify") or ())
    return found


def _check_capabilities(plugin: type[Platform], found: Mapping[str, Any], path: KeyPath, out: _Collector) -> None:
    """A deferred window or a concurrency policy needs a platform that can honour it."""
    if found.get("window") and found["window"].outside == "defer" and not plugin.can_defer:
        out.add(
            (*path, "window", "outside"),
            f"platform type '{plugin.type_name}' cannot start a run at a later time",
            "use outside: wait or skip, or a platform with a scheduled start (airflow, prefect, rundeck, powerjob)",
        )
    if found["concurrency"] != "allow" and not plugin.can_list_active:
        out.add(
            (*path, "concurrency"),
            f"platform type '{plugin.type_name}' cannot list active runs, so concurrency: "
            f"{found['concurrency']} cannot be honoured",
            "use concurrency: allow, or configure the platform's active-runs lookup",
        )


def _check_compensation(
    compensation: Mapping[str, Any], path: KeyPath, platform_specs: Mapping[str, PlatformSpec], out: _Collector
) -> None:
    from trigger_schedule.templating import check_templates

    other = compensation.get("platform")
    if other and other not in platform_specs:
        out.add(
            (*path, "on-failure", "platform"),
            f"no platform named '{other}'",
            _choices_hint(other, list(platform_specs)),
        )
    where = out.where((*path, "on-failure", "params"))
    for problem in check_templates(compensation.get("params") or {}, where):
        out.add((*path, "on-failure", "params"), _without_prefix(problem.message, where), problem.hint)


def _without_prefix(message: str, where: str) -> str:
    """Expression errors start with their location, which the problem line already shows."""
    return message[len(where) :].lstrip(" :") if message.startswith(where) else message


def _duration(value: Any) -> float:
    """A duration the schema already checked; a bad one was reported there, so 0 stands in."""
    try:
        return parse_duration(value)
    except ConfigError:
        return 0.0


def _choices_hint(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"choose one of: {', '.join(choices)}" if choices else "define it under platforms:"


def find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in graph:
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def load_plan(path: str | Path) -> Plan:
    file = Path(path)
    data, lines, problems = parse_yaml(read_text(file), str(file))
    if problems:
        raise PlanInvalid(problems)
    return validate(data, str(file), lines)
