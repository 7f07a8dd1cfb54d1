"""RFC 6901 JSON pointers: escapes and array indexes as the RFC spells them."""

from __future__ import annotations

import pytest
from trigger_schedule import jsonpointer

# RFC 6901 section 5's example document and pointers.
DOCUMENT = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, 'k"l': 6, " ": 7, "m~n": 8}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("", DOCUMENT),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_the_rfc_examples(pointer: str, value: object) -> None:
    assert jsonpointer.resolve(DOCUMENT, pointer) == value


def test_tilde_one_is_unescaped_before_tilde_zero() -> None:
    assert jsonpointer.resolve({"~1": "tilde-one", "/": "slash"}, "/~01") == "tilde-one"


@pytest.mark.parametrize(
    "pointer", ["/foo/01", "/foo/-", "/foo/2", "/foo/+1", "/foo/\u00b9", "/foo/ 1", "/m~2n", "foo", "/m~"]
)
def test_what_the_rfc_does_not_allow_resolves_to_nothing(pointer: str) -> None:
    assert jsonpointer.resolve(DOCUMENT, pointer) is None


def test_first_skips_missing_and_empty_values() -> None:
    assert jsonpointer.first({"id": "", "runId": 0}, ["/missing", "/id", "/runId"]) == 0
    assert jsonpointer.first({}, ["/a"]) is None
