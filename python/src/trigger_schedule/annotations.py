"""GitHub workflow-command annotations for errors, so a config problem is marked on the file and line it is on.

`::error file=F,line=L,title=T::message` (GitHub's workflow commands: property values escape `%`, CR, LF,
`:` and `,`; the message escapes `%`, CR and LF). Used only when GITHUB_ACTIONS is "true".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from trigger_schedule.loading import Problem

TITLE = "trigger-schedule"


def on_github(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def _message(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _message(text).replace(":", "%3A").replace(",", "%2C")


def error_annotation(message: str, *, file: str | None = None, line: int | None = None, title: str = TITLE) -> str:
    properties = []
    if file:
        properties.append(f"file={_property(file)}")
        if line:
            properties.append(f"line={line}")
    properties.append(f"title={_property(title)}")
    return f"::error {','.join(properties)}::{_message(message)}"


def _repository_path(source: str, workspace: str | None) -> str:
    """GitHub places an annotation by the file's path in the repository: relative to the workspace."""
    if workspace and os.path.isabs(source):
        relative = os.path.relpath(source, workspace)
        if not relative.startswith(".."):
            return relative
    return source


def problem_annotations(problems: Iterable[Problem], workspace: str | None = None) -> list[str]:
    """One annotation per plan problem, on its file and line (flags have no file: a plain annotation)."""
    lines = []
    for problem in problems:
        text = f"{problem.path}: {problem.message}" if problem.path else problem.message
        if problem.hint:
            text += f"\nhint: {problem.hint}"
        is_file = problem.source not in ("command line", "")
        lines.append(
            error_annotation(
                text,
                file=_repository_path(problem.source, workspace) if is_file else None,
                line=problem.line if is_file else None,
                title=f"{TITLE}: invalid plan" if is_file else f"{TITLE}: invalid flags",
            )
        )
    return lines
