"""RFC 6901 JSON pointers, to find a run id or a state inside a scheduler's answer."""

from __future__ import annotations

import re
from typing import Any

# RFC 6901: an array index is 0, or ASCII digits without a leading zero ("01" and "²" are not indexes).
_INDEX = re.compile(r"0|[1-9][0-9]*")

_MISSING = object()


def resolve(document: Any, pointer: str) -> Any:
    """The value at `pointer`, or None when it is not there."""
    value = _walk(document, pointer)
    return None if value is _MISSING else value


def _walk(document: Any, pointer: str) -> Any:
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        return _MISSING
    current = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                return _MISSING
            current = current[token]
        elif isinstance(current, list):
            if not _INDEX.fullmatch(token) or int(token) >= len(current):
                return _MISSING
            current = current[int(token)]
        else:
            return _MISSING
    return current


def first(document: Any, pointers: list[str]) -> Any:
    """The first pointer that resolves to a non-empty value."""
    for pointer in pointers:
        value = resolve(document, pointer)
        if value not in (None, ""):
            return value
    return None
