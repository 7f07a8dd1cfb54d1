"""Semantic Versioning 2.0.0: parsing and precedence, with a leading `v` tolerated (`v1.4.2`).

Only what `when:` conditions need (compare, components, "did this deploy change the major?"),
so there is no third-party dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

# The regex from semver.org, minus the named groups; numeric identifiers have no leading zeros.
_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = re.compile(
    rf"[vV]?({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,  # \d must not accept non-ASCII digits
)

LEVELS = ("major", "minor", "patch", "any")


class InvalidVersion(ValueError):
    """Raised for a string that is not a semantic version."""


PreReleaseId = Union[int, str]


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[PreReleaseId, ...] = ()
    build: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def parse(text: str) -> Version:
    """The version in `text` (surrounding whitespace and one leading v/V allowed)."""
    match = _SEMVER.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidVersion(
            f"{text!r} is not a semantic version (expected MAJOR.MINOR.PATCH such as 1.4.2, v2.0.0 or 2.1.0-rc.1)"
        )
    major, minor, patch, pre, build = match.groups()
    prerelease = tuple(int(p) if p.isdigit() else p for p in pre.split(".")) if pre else ()
    return Version(int(major), int(minor), int(patch), prerelease, tuple(build.split(".")) if build else ())


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except InvalidVersion:
        return False
    return True


def _compare_prerelease(a: tuple[PreReleaseId, ...], b: tuple[PreReleaseId, ...]) -> int:
    # A release ranks above its pre-releases: 1.0.0-rc.1 < 1.0.0 (spec item 11.3).
    if not a or not b:
        return (not a) - (not b)
    for x, y in zip(a, b):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return 1 if x > y else -1
        if isinstance(x, int) or isinstance(y, int):
            return -1 if isinstance(x, int) else 1  # numeric identifiers rank below alphanumeric ones
        return 1 if x > y else -1  # ASCII order
    # All shared identifiers equal: the longer set ranks higher (1.0.0-alpha < 1.0.0-alpha.1).
    return (len(a) > len(b)) - (len(a) < len(b))


def compare(a: str | Version, b: str | Version) -> int:
    """-1, 0 or 1 by SemVer precedence; build metadata is ignored (spec item 10)."""
    va = a if isinstance(a, Version) else parse(a)
    vb = b if isinstance(b, Version) else parse(b)
    core_a, core_b = (va.major, va.minor, va.patch), (vb.major, vb.minor, vb.patch)
    if core_a != core_b:
        return 1 if core_a > core_b else -1
    return _compare_prerelease(va.prerelease, vb.prerelease)


def differs_at(previous: Version, current: Version, level: str) -> bool:
    """Whether the two versions differ at `level` or above, in either direction (a rollback counts).

    `patch` looks at MAJOR.MINOR.PATCH only, so 1.2.3-rc.1 -> 1.2.3 is not a patch change;
    `any` is true for any difference, including pre-release and build metadata.
    """
    if level == "major":
        return previous.major != current.major
    if level == "minor":
        return (previous.major, previous.minor) != (current.major, current.minor)
    if level == "patch":
        return (previous.major, previous.minor, previous.patch) != (current.major, current.minor, current.patch)
    if level == "any":
        return previous != current
    raise ValueError(f"{level!r} is not a version level; use one of {', '.join(LEVELS)}")
