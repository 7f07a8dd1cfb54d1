"""One loading path for plan files and flag values: bytes to data, with every problem a validation problem.

Strict UTF-8 (the byte offset and line of a bad byte named), a size limit, YAML with the line of every key,
duplicate keys refused, and limits on nesting depth and on how many values aliases may expand to, so no input
makes the tool crash, hang or grow without bound: a YAML alias bomb is a problem, not 3 GB of memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trigger_schedule.errors import ConfigError

KeyPath = tuple[Any, ...]

MAX_PLAN_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class _TooBig(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def format_path(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_text(path: Path) -> str:
    """A plan file's text: at most MAX_PLAN_BYTES, strict UTF-8; each failure says what to change."""
    try:
        size = path.stat().st_size
        if size > MAX_PLAN_BYTES:
            raise ConfigError(
                f"plan file {path} is {size} bytes, more than the {MAX_PLAN_BYTES} a plan may have",
                hint="a plan describes triggers; move data into the jobs' own inputs or split the plan",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"plan file {path} not found",
            hint="create .trigger-schedule.yml, pass --config PATH, or use `trigger-schedule trigger` with flags",
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"plan file {path} is a directory", hint="pass --config with the plan file's path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read plan file {path}: {exc.strerror}") from None
    return decode(data, str(path))


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{source}:{line}: not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}",
            hint="save the file as UTF-8 (an editor's encoding setting, or iconv -f latin1 -t utf-8)",
        ) from None


def parse_yaml(text: str, source: str) -> tuple[Any, dict[KeyPath, int], list[Problem]]:
    """Parse YAML, remembering the line of every key; duplicate keys, too deep nesting and alias expansion
    past MAX_VALUES are problems, not silent overrides or unbounded work."""
    import yaml  # only plan files and YAML flag values need it

    problems: list[Problem] = []
    lines: dict[KeyPath, int] = {}
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        problems.append(_syntax_problem(exc, text, source))
        return None, lines, problems
    except RecursionError:
        problems.append(Problem(source, None, "", f"nested more than {MAX_DEPTH} levels deep", _DEPTH_HINT))
        return None, lines, problems
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, lines, problems
    budget = [MAX_VALUES]

    def build(current: Any, path: KeyPath) -> Any:
        budget[0] -= 1
        line = current.start_mark.line + 1
        if budget[0] < 0:
            raise _TooBig(f"expands to more than {MAX_VALUES} values (YAML aliases?)", line)
        if len(path) > MAX_DEPTH:
            raise _TooBig(f"nested more than {MAX_DEPTH} levels deep", line)
        lines.setdefault(path, line)
        if isinstance(current, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in current.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.append(Problem(source, key_node.start_mark.line + 1, format_path(path),
                                            "a key must be plain text", "write the key as a string"))  # fmt: skip
                    continue
                key = loader.construct_object(key_node)
                if key in result:
                    problems.append(Problem(source, key_node.start_mark.line + 1, format_path((*path, key)),
                                            "this key appears twice", "keep one of them"))  # fmt: skip
                lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = build(value_node, (*path, key))
            return result
        if isinstance(current, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(current.value)]
        return loader.construct_object(current)

    try:
        return build(node, ()), lines, problems
    except _TooBig as exc:
        problems.append(Problem(source, exc.line, "", str(exc), _DEPTH_HINT))
    except yaml.YAMLError as exc:
        problems.append(Problem(source, None, "", f"not valid YAML: {exc}"))
    return None, lines, problems


def _syntax_problem(exc: Exception, text: str, source: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    position = getattr(exc, "position", None)  # a reader error: a character YAML does not allow
    line = mark.line + 1 if mark else text[:position].count("\n") + 1 if isinstance(position, int) else None
    reason = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    return Problem(source, line, "", f"not valid YAML: {reason}", "fix the YAML syntax at that line")


_DEPTH_HINT = "a plan is a few levels of triggers and options; remove the deep or repeated structure"


def parse_flag_value(text: str, flag: str) -> Any:
    """A flag's YAML or JSON value, under the plan file's limits; problems are ConfigErrors naming the flag."""
    # JSON first: YAML would split an escaped emoji (a surrogate pair) into two broken characters.
    try:
        value = json.loads(text)
    except RecursionError:
        raise ConfigError(f"{flag}: nested more than {MAX_DEPTH} levels deep", hint=_DEPTH_HINT) from None
    except ValueError:
        value = _yaml_flag_value(text, flag)
        return value
    if _depth(value) > MAX_DEPTH:
        raise ConfigError(f"{flag}: nested more than {MAX_DEPTH} levels deep", hint=_DEPTH_HINT)
    return value


def _yaml_flag_value(text: str, flag: str) -> Any:
    value, _, problems = parse_yaml(text, flag)
    if problems:
        first = problems[0]
        raise ConfigError(f"{flag}: {first.message}", hint=first.hint or 'pass a map such as {"a": 1}')
    return value


def _depth(value: Any) -> int:
    """Nesting depth of JSON data, iteratively (no recursion to run out of)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        current, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        todo.extend((child, depth + 1) for child in children)
    return deepest
