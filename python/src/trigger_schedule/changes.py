"""Git access for the template context: changed files between deploys and local-mode repository facts.

Every call degrades to None instead of raising: a missing `git`, a shallow clone without the base
commit or a directory that is not a repository must never stop a deploy pipeline.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

GIT_TIMEOUT = 10.0

# Anything git accepts as a revision that cannot be mistaken for an option or carry control characters.
_SAFE_REV = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./^~@{}+-]*")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# scp-like `[user@]host:path`; the host needs 2+ chars so `C:\repo` stays a local path.
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?[^:/\\]{2,}:(?!//)(.+)$")


class GitRunner:
    """Runs `git` in one directory; every failure (not installed, not a repo, timeout) is None."""

    def __init__(self, cwd: str | os.PathLike[str], *, executable: str = "git", timeout: float = GIT_TIMEOUT) -> None:
        self.cwd = os.fspath(cwd)
        self.executable = executable
        self.timeout = timeout

    def run(self, args: Sequence[str]) -> str | None:
        """stdout of `git <args>` when it exits 0, else None. argv list, never a shell."""
        try:
            proc = subprocess.run(
                [self.executable, *args],
                cwd=self.cwd,
                capture_output=True,
                text=True,
                # Paths are bytes in git; replace undecodable ones rather than fail the whole diff.
                encoding="utf-8",
                errors="replace",
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
        if proc.returncode != 0:
            return None
        return proc.stdout


def is_safe_rev(rev: str) -> bool:
    """A revision that can go on git's command line (a leading `-` would be read as an option)."""
    return bool(_SAFE_REV.fullmatch(rev)) and ".." not in rev


def changed_files(git: GitRunner, base: str, head: str) -> list[str] | None:
    """Paths that differ between `base` and `head`, or None when git cannot tell."""
    if not (is_safe_rev(base) and is_safe_rev(head)):
        return None
    # -z: no C-style quoting of unusual paths; --no-renames: a rename lists the old path as well as
    # the new one, since jobs keyed on the old location changed too; trailing `--`: revs, not paths.
    out = git.run(["diff", "--name-only", "--no-renames", "--no-ext-diff", "-z", base, head, "--"])
    if out is None:
        return None
    return [path for path in out.split("\0") if path]


def _line(out: str | None) -> str | None:
    value = out.strip() if out is not None else ""
    return value or None


def head_sha(git: GitRunner) -> str | None:
    return _line(git.run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]))


def current_branch(git: GitRunner) -> str | None:
    """The checked-out branch; None on a detached HEAD (the usual state in CI checkouts)."""
    return _line(git.run(["symbolic-ref", "--quiet", "--short", "HEAD"]))


def exact_tag(git: GitRunner) -> str | None:
    """A tag (annotated or lightweight) pointing exactly at HEAD."""
    return _line(git.run(["describe", "--tags", "--exact-match", "HEAD"]))


def origin_url(git: GitRunner) -> str | None:
    """The `origin` remote's URL with any embedded credentials removed."""
    url = _line(git.run(["config", "--get", "remote.origin.url"]))
    return strip_credentials(url) if url else None


def toplevel(git: GitRunner) -> str | None:
    return _line(git.run(["rev-parse", "--show-toplevel"]))


def strip_credentials(url: str) -> str:
    """`url` without `user:password@`; anything that is not a `scheme://` URL is returned as is."""
    if not _SCHEME.match(url):
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def repository_slug(url: str) -> str:
    """`owner/repo` (or `group/sub/repo`) from any git remote form, never including credentials.

    https://user:token@host/owner/repo.git, ssh://git@host:22/owner/repo, git@host:owner/repo.git
    all give `owner/repo`; a local path gives its last component.
    """
    url = url.strip()
    if _SCHEME.match(url):
        rest = url.split("://", 1)[1]
        # The last `@` ends the userinfo even when an unencoded password holds `/` or `@`.
        rest = rest.rpartition("@")[2]
        path = rest.partition("/")[2] if "/" in rest else ""
        if url.lower().startswith("file://"):
            path = path.rstrip("/").rpartition("/")[2]
    else:
        scp = _SCP_LIKE.match(url)
        path = scp.group(1) if scp else re.split(r"[\\/]", url.rstrip("/\\"))[-1]
    path = path.split("?", 1)[0].split("#", 1)[0].strip("/")
    if path.startswith("~"):  # ssh://host/~user/repo
        path = path[1:]
    return path.removesuffix(".git").strip("/")
