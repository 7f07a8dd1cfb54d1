"""RFC 6901 JSON pointers, to find a run id or a state inside a scheduler's answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_MISSING = object()
# RFC 6901 section 4: an array index is 0 or digits without a leading zero, ASCII only.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
# `~` only ever starts `~0` (a `~`) or `~1` (a `/`).
_BAD_ESCAPE = re.compile(r"~(?![01])")


def resolve(document: Any, pointer: str) -> Any:
    """The value at `pointer`, or None when it is not there (or the pointer is not valid)."""
    value = _walk(document, pointer)
    return None if value is _MISSING else value


def _walk(document: Any, pointer: str) -> Any:
    if pointer == "":
        return document
    if not pointer.startswith("/") or _BAD_ESCAPE.search(pointer):
        return _MISSING
    current = document
    for raw in pointer[1:].split("/"):
        # `~1` first, then `~0`: "~01" is the key "~1", not "/".
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, Mapping):
            if token not in current:
                return _MISSING
            current = current[token]
        elif isinstance(current, list):
            if not _ARRAY_INDEX.fullmatch(token) or int(token) >= len(current):
                return _MISSING  # also "-", the element after the last, which never exists
            current = current[int(token)]
        else:
            return _MISSING
    return current


def first(document: Any, pointers: list[str]) -> Any:
    """The first pointer that resolves to a non-empty value."""
    for pointer in pointers:
        value = resolve(document, pointer)
        if value is not None and value != "":
            return value
    return None
