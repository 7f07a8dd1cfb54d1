"""CEL for `when:` conditions and `{{ }}` templates, on the C++ runtime (`cel-expr-python`).

The expression language is sandboxed by construction: the only inputs are the four plain-data
variables below, there are no attribute lookups on Python objects, and none of the helpers does
I/O. Helpers:

    changed(glob) / changed([globs])      a changed file matches (true when the list is unknown)
    matches_glob(value, glob)             `**` crosses `/`, `*` and `?` do not
    semver_compare(a, b)                  -1, 0 or 1 by SemVer 2.0 precedence
    semver_major/minor/patch(v)           a component as int
    semver_valid(v)                       whether v is a semantic version (leading v allowed)
    version_changed(level)                deploy.previous_version -> deploy.version differs at
                                          "major" | "minor" | "patch" | "any" (true with no previous)

The CEL strings extension (`split`, `lowerAscii`, `replace`, `join`, `format`, ...) is enabled too.

`changed` and `version_changed` read the evaluation context, so they are declared without an
implementation and bound per evaluation: each `evaluate()` passes its own closures to the engine,
which keeps parallel evaluations from sharing any mutable state.
"""

from __future__ import annotations

import base64
import difflib
import functools
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from cel_expr_python import cel

from trigger_schedule import semver
from trigger_schedule.errors import ExpressionError

VARIABLES = ("ci", "deploy", "changes", "vars")

HELPER_SIGNATURES = (
    "changed(string glob) -> bool",
    "changed(list<string> globs) -> bool",
    "matches_glob(string value, string glob) -> bool",
    "semver_compare(string a, string b) -> int",
    "semver_major(string version) -> int",
    "semver_minor(string version) -> int",
    "semver_patch(string version) -> int",
    "semver_valid(string version) -> bool",
    "version_changed(string level) -> bool",
)
HELPERS = tuple(dict.fromkeys(sig.split("(", 1)[0] for sig in HELPER_SIGNATURES))

SYNTAX_HINT = (
    "CEL syntax: quote strings ('production'), compare with == != < >, combine with && || !, "
    "test membership with `in`; e.g. deploy.environment == 'production' && changed('db/**')"
)


# ---------------------------------------------------------------------------------------------
# Globs


@functools.lru_cache(maxsize=1024)
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A regex that fully matches what `pattern` matches.

    `**` matches across directories (`**/` is zero or more whole directories, so `**/x.sql`
    matches `x.sql`), `*` any run of characters except `/`, `?` one character except `/`,
    `[abc]` / `[a-z]` / `[!abc]` one character from (not from) the set, never `/`; `\\` makes the
    next character literal. Everything else is literal (no `{a,b}` alternatives).
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            if j - i == 1:
                out.append("[^/]*")
            elif (i == 0 or pattern[i - 1] == "/") and j < n and pattern[j] == "/":
                out.append("(?:[^/]*/)*")
                j += 1  # the `/` is part of the zero-or-more directories
            else:
                out.append(".*")  # `dir/**`, or `**` inside a name: anything, across directories
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            translated, i = _glob_class(pattern, i)
            out.append(translated)
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _glob_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the `[...]` at `start`; an unclosed `[` is a literal."""
    j = start + 1
    negate = j < len(pattern) and pattern[j] in "!^"
    if negate:
        j += 1
    first = j
    if j < len(pattern) and pattern[j] == "]":
        j += 1  # a `]` right after the opening bracket is a member, as in shells
    end = pattern.find("]", j)
    if end < 0:
        return re.escape("["), start + 1
    body = pattern[first:end]
    parts: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low <= high:
                parts.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            parts.append(re.escape(body[k]))
            k += 1
    if not parts:
        return ("(?!)" if not negate else "[^/]"), end + 1  # empty set: matches nothing / anything
    members = "".join(parts)
    # A set never matches `/`, like `*` and `?`, so a glob cannot accidentally span directories.
    return (f"[^/{members}]" if negate else f"(?!/)[{members}]"), end + 1


def glob_match(value: str, pattern: str) -> bool:
    return glob_to_regex(pattern).fullmatch(value) is not None


def _path_glob(pattern: str) -> str:
    # Changed files are repository-relative; let `./db/**` and `/db/**` mean `db/**`.
    if pattern.startswith("./"):
        return pattern[2:]
    return pattern[1:] if pattern.startswith("/") else pattern


def first_changed_match(files: Sequence[str], globs: Sequence[str]) -> tuple[str, str] | None:
    """The first (file, glob) pair where a changed file matches a path glob, or None."""
    regexes = [(glob, glob_to_regex(_path_glob(glob))) for glob in globs]
    for path in files:
        for glob, regex in regexes:
            if regex.fullmatch(path):
                return path, glob
    return None


# ---------------------------------------------------------------------------------------------
# Helper implementations (plain Python values in and out; exceptions become CEL errors)


def _require_str(function: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{function}() expects a string, got {type(value).__name__} {value!r}")
    return value


def _changed(changes: Mapping[str, Any], globs: object) -> bool:
    patterns = [globs] if isinstance(globs, str) else globs
    if not isinstance(patterns, list) or not patterns:
        raise TypeError(f"changed() expects a glob or a non-empty list of globs, got {globs!r}")
    checked = [_require_str("changed", glob) for glob in patterns]
    if not changes.get("known", False):
        return True  # unknown change list: run rather than skip silently (like the `changed:` block)
    return first_changed_match(list(changes.get("files") or []), checked) is not None


def version_changed(deploy: Mapping[str, Any], level: str) -> bool:
    """Whether deploy.previous_version -> deploy.version is a change at `level` (or above)."""
    if level not in semver.LEVELS:
        close = difflib.get_close_matches(level, semver.LEVELS, n=1)
        suggestion = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(
            f"version_changed(): {level!r} is not a level; use one of {', '.join(semver.LEVELS)}{suggestion}"
        )
    previous, current = str(deploy.get("previous_version") or ""), str(deploy.get("version") or "")
    if not previous:
        return True  # first deploy, or the previous version is not known: treat as changed
    if not current:
        raise ValueError("version_changed(): deploy.version is empty, so there is nothing to compare")
    return semver.differs_at(
        _parse_version("deploy.previous_version", previous), _parse_version("deploy.version", current), level
    )


def _parse_version(name: str, text: str) -> semver.Version:
    try:
        return semver.parse(text)
    except semver.InvalidVersion as exc:
        raise ValueError(f"{name}: {exc}") from None


def _semver_compare(a: str, b: str) -> int:
    try:
        return semver.compare(_require_str("semver_compare", a), _require_str("semver_compare", b))
    except semver.InvalidVersion as exc:
        raise ValueError(f"semver_compare(): {exc}") from None


def _semver_part(part: str, text: str) -> int:
    try:
        version = semver.parse(_require_str(f"semver_{part}", text))
    except semver.InvalidVersion as exc:
        raise ValueError(f"semver_{part}(): {exc}") from None
    return int(getattr(version, part))


def _semver_valid(text: str) -> bool:
    return isinstance(text, str) and semver.is_valid(text)


def _matches_glob(value: str, glob: str) -> bool:
    return glob_match(_require_str("matches_glob", value), _require_str("matches_glob", glob))


# ---------------------------------------------------------------------------------------------
# The environment (built once per process, on first use)

_T = cel.Type
_LIST_OF_STRING = _T.List(_T.STRING)


def _overload(overload_id: str, result: Any, params: list[Any], impl: Callable[..., Any] | None = None) -> Any:
    if impl is None:
        return cel.Overload(overload_id, result, params)  # late-bound: supplied per evaluation
    return cel.Overload(overload_id, result, params, impl=impl)


@functools.cache
def _environment() -> Any:
    # Helpers live in a CelExtension because only extension overloads declared without `impl`
    # are registered as lazy functions that `eval(functions=...)` can bind; overloads declared via
    # NewEnv(functions=...) without an implementation fail at evaluation with "No overload found
    # in reference resolve step".
    extension = cel.CelExtension(
        "trigger_schedule",
        [
            cel.FunctionDecl(
                "changed",
                [
                    _overload("changed_string", _T.BOOL, [_T.STRING]),
                    _overload("changed_list_string", _T.BOOL, [_LIST_OF_STRING]),
                ],
            ),
            cel.FunctionDecl("version_changed", [_overload("version_changed_string", _T.BOOL, [_T.STRING])]),
            cel.FunctionDecl(
                "matches_glob",
                [
                    _overload("matches_glob_string_string", _T.BOOL, [_T.STRING, _T.STRING], _matches_glob),
                ],
            ),
            cel.FunctionDecl(
                "semver_compare",
                [
                    _overload("semver_compare_string_string", _T.INT, [_T.STRING, _T.STRING], _semver_compare),
                ],
            ),
            *(
                cel.FunctionDecl(
                    f"semver_{part}",
                    [
                        _overload(f"semver_{part}_string", _T.INT, [_T.STRING], functools.partial(_semver_part, part)),
                    ],
                )
                for part in ("major", "minor", "patch")
            ),
            cel.FunctionDecl("semver_valid", [_overload("semver_valid_string", _T.BOOL, [_T.STRING], _semver_valid)]),
        ],
    )
    # The strings extension (split, lowerAscii, replace, join, format, ...) is pure; imported here
    # because it costs a few milliseconds and most CLI runs never evaluate anything.
    from cel_expr_python.ext import ext_strings

    any_map = _T.Map(_T.STRING, _T.DYN)
    variables = {"ci": any_map, "deploy": any_map, "changes": any_map, "vars": _T.Map(_T.STRING, _T.STRING)}
    return cel.NewEnv(variables=variables, extensions=[extension, ext_strings.ExtStrings()])


def _bound_functions(context: Mapping[str, Any]) -> list[Any]:
    """Fresh closures over this evaluation's context (nothing shared between threads)."""
    changes: Mapping[str, Any] = context.get("changes") or {}
    deploy: Mapping[str, Any] = context.get("deploy") or {}
    return [
        cel.Function("changed", [_T.STRING], False, lambda glob: _changed(changes, glob), _T.BOOL),
        cel.Function("changed", [_LIST_OF_STRING], False, lambda globs: _changed(changes, globs), _T.BOOL),
        cel.Function(
            "version_changed",
            [_T.STRING],
            False,
            lambda level: version_changed(deploy, _require_str("version_changed", level)),
            _T.BOOL,
        ),
    ]


_compile_lock = threading.Lock()


@functools.lru_cache(maxsize=1024)
def _compile_cached(source: str) -> Any:
    return _environment().compile(source)


def _compile(source: str) -> Any:
    # Plan validation and evaluation compile the same sources; the lock keeps the engine's lazy
    # compiler set-up and the cache single-threaded.
    with _compile_lock:
        return _compile_cached(source)


# ---------------------------------------------------------------------------------------------
# Compiling and evaluating

_ERROR_HEAD = re.compile(r"^ERROR: <input>:(\d+):(\d+): (.*)$")
_STATUS_PREFIX = re.compile(r"^[A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r"\s*\[[A-Z_]+\]\s*$")
_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")
_NO_OVERLOAD = re.compile(r"found no matching overload for '([^']+)'")
_MISSING_KEY = re.compile(r'Key not found in map : "([^"]*)"')


def display(source: str) -> str:
    """The expression on one line, for messages."""
    return " ".join(source.split()) if "\n" in source else source


def _caret(line: str, column: int) -> str:
    # Rebuilt rather than copied from the engine, which pads with dots (full-width ones under wide
    # characters) and turns tabs into spaces.
    pad = []
    for ch in line[: max(column - 1, 0)]:
        pad.append("\t" if ch == "\t" else "  " if unicodedata.east_asian_width(ch) in "WF" else " ")
    return "".join(pad) + "^"


def _parse_compile_error(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of each `ERROR: <input>:L:C: ...` in the engine's report."""
    errors: list[tuple[int, int, str]] = []
    body = _STATUS_SUFFIX.sub("", _STATUS_PREFIX.sub("", text.strip()))
    for raw in body.splitlines():
        head = _ERROR_HEAD.match(raw)
        if head:
            text = head.group(3).replace(" (in container '')", "")
            errors.append((int(head.group(1)), int(head.group(2)), text))
        elif errors and raw.strip() and not raw.startswith(" |"):
            line, column, message = errors[-1]
            errors[-1] = (line, column, f"{message} {raw.strip()}")
    return errors


def _compile_hint(messages: list[str]) -> str:
    for message in messages:
        undeclared = _UNDECLARED.search(message)
        if undeclared:
            name = undeclared.group(1).split(".")[0]  # `deploi.environment` is reported whole
            close = difflib.get_close_matches(name, VARIABLES + HELPERS, n=1)
            guess = f"did you mean '{close[0]}'? " if close else ""
            return (
                f"{guess}'{name}' is not defined: the variables are {', '.join(VARIABLES)} and the helpers "
                f"are {', '.join(h + '()' for h in HELPERS)}"
            )
        overload = _NO_OVERLOAD.search(message)
        if overload and overload.group(1) in HELPERS:
            name = overload.group(1)
            sigs = [s for s in HELPER_SIGNATURES if s.startswith(name + "(")]
            return "the helper takes: " + "; ".join(sigs)
        if "token recognition error at: '=" in message:
            return "compare with == (a single = is not an operator in CEL)"
    return SYNTAX_HINT


def _compile_error(source: str, where: str, engine_message: str) -> ExpressionError:
    errors = _parse_compile_error(engine_message)
    if not errors:
        message = _STATUS_SUFFIX.sub("", _STATUS_PREFIX.sub("", engine_message.strip()))
        return ExpressionError(f'{where}: cannot compile "{display(source)}": {message}', SYNTAX_HINT)
    lines = source.split("\n")
    parts = []
    for index, (line_no, column, text) in enumerate(errors):
        snippet = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
        parts.append(f"{'  ' if index else ''}{line_no}:{column}: {text}")
        if snippet.strip():
            parts.append(f"    {snippet}\n    {_caret(snippet, column)}")
    return ExpressionError(
        f'{where}: cannot compile "{display(source)}" at ' + "\n".join(parts),
        _compile_hint([text for _, _, text in errors]),
    )


def _plain(value: Any, path: str) -> Any:
    """A copy of `value` made of dict/list/str/int/float/bool/None only: the sandbox's input."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise ExpressionError(
        f"the expression context holds a {type(value).__name__} at {path}; only plain data is allowed",
        "this is a bug in trigger-schedule: please report it",
    )


def _format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds:.9f}".rstrip("0") + "s"


def to_python(value: Any) -> Any:
    """CEL results as JSON-friendly Python: timestamps become RFC 3339 strings, durations `90s`."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {to_python(k): to_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_python(v) for v in value]
    if isinstance(value, datetime):
        stamp = value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return stamp.isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return _format_duration(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "name") and callable(value.name):  # a cel.Type, from type(x)
        return str(value.name()).lower()
    return str(value)


def _key_paths(context: Mapping[str, Any]) -> dict[str, str]:
    """Key name -> `var.key` for the keys one level into each variable, for did-you-mean hints."""
    paths: dict[str, str] = {}
    for var in VARIABLES:
        inner = context.get(var)
        if isinstance(inner, Mapping):
            for key in inner:
                paths.setdefault(str(key), f"{var}.{key}")
    return paths


def _runtime_hint(message: str, context: Mapping[str, Any]) -> str:
    available = f"the variables are {', '.join(VARIABLES)}"
    helper = message.split("(", 1)[0]
    if helper in HELPERS and message.startswith(helper + "():"):
        return "the helper takes: " + "; ".join(s for s in HELPER_SIGNATURES if s.startswith(helper + "("))
    missing = _MISSING_KEY.search(message)
    if not missing:
        return available
    key = missing.group(1)
    paths = _key_paths(context)
    close = difflib.get_close_matches(key, list(paths), n=1)
    guess = f"did you mean {paths[close[0]]}? " if close else ""
    if not key.isidentifier():
        return f"{guess}{available}"
    return f"{guess}{available}; test an optional key first, e.g. has(vars.{key}) or '{key}' in vars"


class CompiledExpression:
    """A compiled CEL expression; immutable and safe to evaluate from several threads at once."""

    __slots__ = ("_expr", "source", "where")

    def __init__(self, source: str, where: str, expr: Any) -> None:
        self.source = source
        self.where = where
        self._expr = expr

    @property
    def result_type(self) -> str:
        """The checker's static type, lowercase: "bool", "int", "string", "dyn", "list<int>", ..."""
        return str(self._expr.return_type().name()).lower()

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The value as plain Python data; ExpressionError when evaluation fails."""
        data = {var: _plain(context.get(var) or {}, var) for var in VARIABLES}
        try:
            result = self._expr.eval(data=data, functions=_bound_functions(data))
        except RuntimeError as exc:  # the engine failing outright rather than returning an error value
            raise self._runtime_error(str(exc), context) from None
        if result.type().name() == "ERROR":
            raise self._runtime_error(str(result.value()), context)
        return to_python(result.plain_value())

    def _runtime_error(self, engine_message: str, context: Mapping[str, Any]) -> ExpressionError:
        message = _STATUS_SUFFIX.sub("", _STATUS_PREFIX.sub("", engine_message.strip()))
        return ExpressionError(
            f'{self.where}: evaluating "{display(self.source)}" failed: {message}', _runtime_hint(message, context)
        )

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r}, where={self.where!r})"


def compile_expression(source: str, where: str) -> CompiledExpression:
    """Parse and type-check `source`; ExpressionError (naming `where` and line:column) if it is wrong."""
    if not isinstance(source, str):
        raise ExpressionError(f"{where}: expected a CEL expression string, got {type(source).__name__}", SYNTAX_HINT)
    if not source.strip():
        raise ExpressionError(f"{where}: the expression is empty", SYNTAX_HINT)
    try:
        expr = _compile(source)
    except RuntimeError as exc:
        raise _compile_error(source, where, str(exc)) from None
    return CompiledExpression(source, where, expr)
