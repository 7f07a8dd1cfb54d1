"""`when:` conditions: a CEL string, true/false, or a structured block, and the reason for the result.

A block's keys are ANDed, in the order written:

    environments: [prod-*]          globs vs deploy.environment
    branches: [main, release/*]     globs vs ci.branch
    tags: [v*]                      globs vs ci.tag
    changed: [db/**]                path globs vs changes.files (true when the list is unknown)
    deploy-status: [success]        allowed deploy.status values
    version-changed: minor          deploy.previous_version -> deploy.version differs at this level
    expr: "ci.attempt == 1"         a CEL expression
    all: [...] / any: [...]         lists of conditions (blocks, CEL strings or true/false)
    not: {...}                      a condition

Every Decision carries a reason naming the clause that decided it, so a skipped trigger says why.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from trigger_schedule import semver
from trigger_schedule.cel_engine import compile_expression, display, first_changed_match, glob_match
from trigger_schedule.errors import ExpressionError

When = Union[str, Mapping[str, Any], bool, None]

GLOB_KEYS = {"environments": ("deploy", "environment"), "branches": ("ci", "branch"), "tags": ("ci", "tag")}
LIST_KEYS = (*GLOB_KEYS, "changed", "deploy-status")
KEYS = (*LIST_KEYS, "version-changed", "expr", "all", "any", "not")

_BLOCK_HINT = "a block's keys are " + ", ".join(KEYS)


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _section(context: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = context.get(name)
    return section if isinstance(section, Mapping) else {}


def _strings(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _listing(items: Sequence[str]) -> str:
    return "[" + ", ".join(items) + "]"


# ---------------------------------------------------------------------------------------------
# Checking (compile and structure, no evaluation)


def check_when(when: Any, where: str) -> list[ExpressionError]:
    """Every problem in `when` that can be found without evaluating it: syntax, types, unknown keys."""
    if when is None or isinstance(when, bool):
        return []
    return _check_condition(when, where)


def _check_condition(condition: Any, where: str) -> list[ExpressionError]:
    if isinstance(condition, bool):
        return []
    if isinstance(condition, str):
        return _check_expression(condition, where)
    if isinstance(condition, Mapping):
        return _check_block(condition, where)
    return [
        ExpressionError(
            f"{where}: expected a CEL expression, a block of conditions or true/false, "
            f"got {_type_name(condition)} {json.dumps(condition, default=str)}",
            "write a CEL string such as \"deploy.environment == 'production'\" or a block such as "
            "{environments: [production]}",
        )
    ]


def _check_expression(source: str, where: str) -> list[ExpressionError]:
    try:
        compiled = compile_expression(source, where)
    except ExpressionError as exc:
        return [exc]
    if compiled.result_type not in ("bool", "dyn"):
        return [_not_bool_error(source, where, compiled.result_type)]
    return []


def _not_bool_error(source: str, where: str, got: str) -> ExpressionError:
    return ExpressionError(
        f'{where}: "{display(source)}" gives {got}, but a condition must be true or false',
        "compare the value, e.g. ci.attempt > 1 or vars.region == 'eu'",
    )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _check_block(block: Mapping[Any, Any], where: str) -> list[ExpressionError]:
    if not block:
        return [
            ExpressionError(
                f"{where}: the condition block is empty", f"add a condition or remove the key; {_BLOCK_HINT}"
            )
        ]
    problems: list[ExpressionError] = []
    for key, value in block.items():
        at = f"{where}.{key}"
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? {_BLOCK_HINT}" if close else _BLOCK_HINT
            problems.append(ExpressionError(f"{at}: unknown condition key '{key}'", hint))
        elif key in LIST_KEYS:
            problems.extend(_check_strings(key, value, at))
        elif key == "version-changed":
            if value not in semver.LEVELS:
                close = difflib.get_close_matches(str(value), semver.LEVELS, n=1)
                choices = f"one of {', '.join(semver.LEVELS)}"
                problems.append(
                    ExpressionError(
                        f"{at}: expected {choices}, got {json.dumps(value, default=str)}",
                        f"did you mean '{close[0]}'?" if close else f"use {choices}",
                    )
                )
        elif key == "expr":
            if isinstance(value, str):
                problems.extend(_check_expression(value, at))
            else:
                problems.append(
                    ExpressionError(
                        f"{at}: expected a CEL expression string, got {_type_name(value)}", "quote the expression"
                    )
                )
        elif key in ("all", "any"):
            if not isinstance(value, list) or not value:
                problems.append(
                    ExpressionError(
                        f"{at}: expected a non-empty list of conditions",
                        f'e.g. {key}: [{{branches: [main]}}, "ci.attempt == 1"]',
                    )
                )
            else:
                for i, item in enumerate(value):
                    problems.extend(_check_condition(item, f"{at}[{i}]"))
        else:  # not
            problems.extend(_check_condition(value, at))
    return problems


def _check_strings(key: str, value: Any, at: str) -> list[ExpressionError]:
    what = "values" if key == "deploy-status" else "globs"
    if isinstance(value, str):
        return []
    if not isinstance(value, list) or not value:
        return [
            ExpressionError(
                f"{at}: expected a non-empty list of {what}, got {_type_name(value)}",
                f"e.g. {key}: [{'success' if key == 'deploy-status' else 'main'}]",
            )
        ]
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        return [
            ExpressionError(
                f"{at}: every entry must be a string, got {json.dumps(bad[0], default=str)}",
                "quote the entry in YAML, e.g. '1.0'",
            )
        ]
    return []


# ---------------------------------------------------------------------------------------------
# Evaluating


def evaluate_when(when: When, context: Mapping[str, Any], where: str) -> Decision:
    """Whether to run, and why. ExpressionError for a broken condition or a failed evaluation."""
    if when is None:
        return Decision(True, "no condition")
    problems = check_when(when, where)
    if problems:
        raise problems[0]
    if isinstance(when, bool):
        return Decision(when, f"when is {_bool(when)}")
    if isinstance(when, str):
        result = _evaluate_expression(when, context, where)
        return Decision(result, f'when "{display(when)}" is {_bool(result)}')
    return _evaluate_block(when, context, where)


def _evaluate_expression(source: str, context: Mapping[str, Any], where: str) -> bool:
    result = compile_expression(source, where).evaluate(context)
    if not isinstance(result, bool):
        got = f"{_type_name(result)} {json.dumps(result, default=str)}"
        raise _not_bool_error(source, where, got)
    return result


def _evaluate_condition(condition: Any, context: Mapping[str, Any], where: str) -> Decision:
    if isinstance(condition, bool):
        return Decision(condition, _bool(condition))
    if isinstance(condition, str):
        result = _evaluate_expression(condition, context, where)
        return Decision(result, f'expr "{display(condition)}" is {_bool(result)}')
    return _evaluate_block(condition, context, where)


def _evaluate_block(block: Mapping[str, Any], context: Mapping[str, Any], where: str) -> Decision:
    reasons = []
    for key, value in block.items():
        decision = _CLAUSES[key](value, context, f"{where}.{key}")
        if not decision.run:
            return decision  # short-circuit: later clauses are not evaluated
        reasons.append(decision.reason)
    return Decision(True, "; ".join(reasons))


def _glob_clause(key: str) -> Callable[[Any, Mapping[str, Any], str], Decision]:
    section, field = GLOB_KEYS[key]

    def clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
        subject = str(_section(context, section).get(field) or "")
        patterns = _strings(value)
        for pattern in patterns:
            if glob_match(subject, pattern):
                return Decision(True, f"{key}: '{subject}' matches '{pattern}'")
        empty = f" ({section}.{field} is empty)" if not subject else ""
        return Decision(False, f"{key}: '{subject}' does not match any of {_listing(patterns)}{empty}")

    return clause


def _changed_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    changes = _section(context, "changes")
    if not changes.get("known", False):
        return Decision(True, "changed: the change list is unknown, so this clause does not skip")
    files = [str(f) for f in changes.get("files") or []]
    patterns = _strings(value)
    match = first_changed_match(files, patterns)
    if match:
        return Decision(True, f"changed: {match[0]} matches '{match[1]}'")
    if not files:
        return Decision(False, "changed: no files changed")
    count = "the changed file does not" if len(files) == 1 else f"none of the {len(files)} changed files"
    return Decision(False, f"changed: {count} match any of {_listing(patterns)}")


def _status_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    status = str(_section(context, "deploy").get("status") or "")
    allowed = _strings(value)
    if status in allowed:
        return Decision(True, f"deploy-status: '{status}' is one of {_listing(allowed)}")
    return Decision(False, f"deploy-status: '{status}' is not one of {_listing(allowed)}")


def _version_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    deploy = _section(context, "deploy")
    previous, current = str(deploy.get("previous_version") or ""), str(deploy.get("version") or "")
    if not previous:
        return Decision(True, "version-changed: there is no previous version")
    hint = (
        "version-changed compares semantic versions (1.4.2, v2.0.0-rc.1); for other version schemes "
        'use expr: "deploy.version != deploy.previous_version"'
    )
    if not current:
        raise ExpressionError(f"{where}: deploy.version is empty, so there is nothing to compare", hint)
    try:
        changed = semver.differs_at(semver.parse(previous), semver.parse(current), value)
    except semver.InvalidVersion as exc:
        raise ExpressionError(f"{where}: {exc}", hint) from None
    kind = "a change" if value == "any" else f"a {value} change"
    verdict = kind if changed else ("no change" if value == "any" else f"not {kind}")
    return Decision(changed, f"version-changed: {previous} -> {current} is {verdict}")


def _expr_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    result = _evaluate_expression(value, context, where)
    return Decision(result, f'expr "{display(value)}" is {_bool(result)}')


def _all_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    reasons = []
    for i, item in enumerate(value):
        decision = _evaluate_condition(item, context, f"{where}[{i}]")
        if not decision.run:
            return Decision(False, f"all: {decision.reason}")
        reasons.append(decision.reason)
    return Decision(True, "all: " + "; ".join(reasons))


def _any_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    reasons = []
    for i, item in enumerate(value):
        decision = _evaluate_condition(item, context, f"{where}[{i}]")
        if decision.run:
            return Decision(True, f"any: {decision.reason}")
        reasons.append(decision.reason)
    return Decision(False, "any: none matched (" + "; ".join(reasons) + ")")


def _not_clause(value: Any, context: Mapping[str, Any], where: str) -> Decision:
    decision = _evaluate_condition(value, context, where)
    return Decision(not decision.run, f"not: {decision.reason}")


_CLAUSES: dict[str, Callable[[Any, Mapping[str, Any], str], Decision]] = {
    **{key: _glob_clause(key) for key in GLOB_KEYS},
    "changed": _changed_clause,
    "deploy-status": _status_clause,
    "version-changed": _version_clause,
    "expr": _expr_clause,
    "all": _all_clause,
    "any": _any_clause,
    "not": _not_clause,
}
