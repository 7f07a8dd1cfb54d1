"""`{{ CEL }}` templates in job parameters.

    version: "{{ deploy.version }}"              the value itself, keeping its type (int, list, map, ...)
    attempt: "{{ ci.attempt + 1 }}"              -> 2, an int
    label: "deploy {{ deploy.version }} to {{ deploy.environment }}"
                                                 -> text; non-strings are written as JSON
    literal: "{{ '{{' }} not a template }}"      -> "{{ not a template }}"

Strings without `{{` and non-string values pass through untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from trigger_schedule.cel_engine import compile_expression
from trigger_schedule.errors import ExpressionError

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_UNCLOSED_HINT = "close it with }}; to write a literal {{ use {{ '{{' }}"
# A `{{` in text from outside (a commit message, a PR title) makes it a template: such text must come as data.
UNTRUSTED_HINT = (
    "if this value holds text from outside (a commit message, a PR title), pass that text with --var NAME=... "
    "(or the faces' var input) and write {{ vars.NAME }} here: vars are data, never evaluated"
)


def _with_untrusted_hint(error: ExpressionError) -> ExpressionError:
    hint = f"{error.hint}; {UNTRUSTED_HINT}" if error.hint else UNTRUSTED_HINT
    return ExpressionError(error.message, hint)


@dataclass(frozen=True)
class _Expression:
    source: str


_Part = Union[str, _Expression]


def _child(where: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{where}.{key}"
    return f"{where}[{json.dumps(key, default=str)}]"


def _string_end(text: str, start: int) -> int | None:
    """Index just past the CEL string literal opening at `start`, or None if it is not closed."""
    quote = text[start]
    delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
    prefix_start = start
    while prefix_start > 0 and start - prefix_start < 2 and text[prefix_start - 1] in "rRbB":
        prefix_start -= 1
    before = text[prefix_start - 1] if prefix_start > 0 else " "
    # r'...' (also rb/br) has no escapes; `r` must be a prefix, not the end of an identifier.
    raw = "r" in text[prefix_start:start].lower() and not (before.isalnum() or before == "_")
    i = start + len(delimiter)
    while i < len(text):
        if not raw and text[i] == "\\":
            i += 2
            continue
        if text.startswith(delimiter, i):
            return i + len(delimiter)
        if len(delimiter) == 1 and text[i] == "\n":
            return None
        i += 1
    return None


def _expression_end(text: str, start: int) -> int | None:
    """Index of the `}}` that closes the expression starting at `start`.

    Braces of CEL map literals and anything inside string literals are skipped, so
    `{{ {'a': {'b': 1}} }}` and `{{ '}}' }}` close where they should.
    """
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "'\"":
            end = _string_end(text, i)
            if end is None:
                return None
            i = end
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 and text.startswith("}}", i):
                return i
            depth = max(depth - 1, 0)
        i += 1
    return None


def _parse(template: str, where: str) -> list[_Part]:
    parts: list[_Part] = []
    pos = 0
    while True:
        start = template.find("{{", pos)
        if start < 0:
            break
        end = _expression_end(template, start + 2)
        if end is None:
            raise ExpressionError(f"{where}: the template {template!r} has a {{{{ that is not closed", _UNCLOSED_HINT)
        if start > pos:
            parts.append(template[pos:start])
        parts.append(_Expression(template[start + 2 : end].strip()))
        pos = end + 2
    if pos < len(template):
        parts.append(template[pos:])
    return parts


def _format(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _render_string(template: str, context: Mapping[str, Any], where: str) -> Any:
    if "{{" not in template:
        return template
    parts = _parse(template, where)
    expressions = [p for p in parts if isinstance(p, _Expression)]
    literals = [p for p in parts if isinstance(p, str)]
    if len(expressions) == 1 and not "".join(literals).strip():
        # Exactly one `{{ }}` (whitespace around it allowed): the value keeps its type.
        return compile_expression(expressions[0].source, where).evaluate(context)
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(_format(compile_expression(part.source, where).evaluate(context)))
    return "".join(out)


def render(value: Any, context: Mapping[str, Any], where: str) -> Any:
    """`value` with every `{{ }}` template in its strings evaluated; dicts and lists are walked."""
    if isinstance(value, str):
        try:
            return _render_string(value, context, where)
        except ExpressionError as exc:
            raise _with_untrusted_hint(exc) from None
    if isinstance(value, Mapping):
        return {key: render(item, context, _child(where, key)) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(item, context, _child(where, i)) for i, item in enumerate(value)]
    return value


def check_templates(value: Any, where: str) -> list[ExpressionError]:
    """Every template that does not parse or compile, without evaluating anything."""
    problems: list[ExpressionError] = []
    if isinstance(value, str):
        if "{{" in value:
            try:
                parts = _parse(value, where)
            except ExpressionError as exc:
                return [_with_untrusted_hint(exc)]
            for part in parts:
                if isinstance(part, _Expression):
                    try:
                        compile_expression(part.source, where)
                    except ExpressionError as exc:
                        problems.append(_with_untrusted_hint(exc))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            problems.extend(check_templates(item, _child(where, key)))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            problems.extend(check_templates(item, _child(where, i)))
    return problems
