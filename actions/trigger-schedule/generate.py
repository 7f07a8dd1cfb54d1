"""Regenerate the action's inputs, their env mapping and the README's inputs table from the CLI.

`trigger_schedule.options.ALL_OPTIONS` is the single source of options: each flag becomes an input named
after it (kebab-case) that sets the flag's own TRIGGER_SCHEDULE_* variable. Run it with the
project's venv after changing the CLI's flags; `--check` (used by the tests) only reports drift.

    .venv/bin/python actions/trigger-schedule/generate.py [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from trigger_schedule.errors import EXIT_MEANINGS
from trigger_schedule.options import ALL_OPTIONS, Option

HERE = Path(__file__).resolve().parent
ACTION = HERE / "action.yml"
README = HERE / "README.md"

# The order first (the inputs most workflows use), then every other flag in the CLI's order.
FIRST = (
    "config", "platform", "url", "job", "params", "when", "wait", "timeout", "token", "environment",
    "deploy-version", "previous-version", "deploy-status", "dry-run", "only", "python",
)  # fmt: skip
# Inputs that are not CLI flags: (description, default, variable).
EXTRA = {
    "token": (
        "The scheduler's API token; pass a secret. Reaches the CLI as TRIGGER_SCHEDULE_TOKEN, which it masks "
        "in every output.",
        "",
        "TRIGGER_SCHEDULE_TOKEN",
    ),
    "python": (
        "Python interpreter (3.11 or newer) from which the action builds its private venv. Left at python3 "
        "and older or missing, a 3.11+ from the runner's tool cache or from uv is used.",
        "python3",
        "ACTION_PYTHON",
    ),
}
DEFAULT = re.compile(r"\s*\(default: ([^)]*)\)")


def _flags() -> dict[str, Option]:
    return {flag.flags[0].removeprefix("--"): flag for flag in ALL_OPTIONS}


def _order() -> list[str]:
    flags = _flags()
    names = [n for n in FIRST if n in flags or n in EXTRA]
    return names + [n for n in flags if n not in names]


def _describe(flag: Option) -> tuple[str, str]:
    """(description, CLI default) for one flag."""
    text = flag.help.replace("; env: one per line", "; one per line").replace(
        "repeatable; one per line", "one per line"
    )
    match = DEFAULT.search(text)
    default = match.group(1) if match else ""
    text = DEFAULT.sub("", text)
    text = text[0].upper() + text[1:]
    if flag.kind == "bool":
        text += "; true or false (empty: the CLI's default)"
    elif flag.kind == "switch":
        text += "; true to turn on"
    elif flag.kind == "multi":
        text += " (several: one per line)" if "one per line" not in text else ""
    return f"{text}. CLI: {flag.flags[0]}, {flag.env}.", default


def inputs_yaml() -> str:
    flags = _flags()
    lines = []
    for name in _order():
        if name in EXTRA:
            description, default, _ = EXTRA[name]
        else:
            description, _ = _describe(flags[name])
            default = ""
        lines += [
            f"  {name}:",
            f"    description: {json.dumps(description, ensure_ascii=False)}",
            "    required: false",
            f"    default: {json.dumps(default)}",
        ]
    return "\n".join(lines) + "\n"


def env_yaml() -> str:
    flags = _flags()
    lines = []
    for name in _order():
        if name == "python":
            continue
        variable = EXTRA[name][2] if name in EXTRA else flags[name].env
        lines.append(f"        {variable}: ${{{{ inputs.{name} }}}}")
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    flags = _flags()
    rows = ["| Input | Description | Default (when empty) |", "|---|---|---|"]
    for name in _order():
        if name in EXTRA:
            description, default, _ = EXTRA[name]
            default = f"`{default}`" if default else "—"
        else:
            description, default = _describe(flags[name])
            default = default or "—"
        cell = description.replace("|", "\\|")
        rows.append(f"| `{name}` | {cell} | {default.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


def _replace(text: str, begin: str, end: str, body: str, where: Path) -> str:
    pattern = re.compile(rf"(^[ \t]*{re.escape(begin)}[^\n]*\n).*?(^[ \t]*{re.escape(end)})", re.S | re.M)
    if not pattern.search(text):
        raise SystemExit(f"{where}: markers {begin!r} ... {end!r} not found")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text, count=1)


def exit_code_output() -> str:
    """The exit-code output's description: every code the CLI documents (errors.EXIT_MEANINGS)."""
    meanings = " | ".join(f"{int(code)}: {meaning}" for code, meaning in EXIT_MEANINGS.items())
    description = f"The CLI exit code. {meanings}."
    return f"    description: {json.dumps(description, ensure_ascii=False)}\n"


def render() -> dict[Path, str]:
    action = ACTION.read_text(encoding="utf-8")
    action = _replace(action, "# BEGIN generated exit codes", "# END generated exit codes", exit_code_output(), ACTION)
    action = _replace(action, "# BEGIN generated inputs", "# END generated inputs", inputs_yaml(), ACTION)
    action = _replace(action, "# BEGIN generated env", "# END generated env", env_yaml(), ACTION)
    readme = README.read_text(encoding="utf-8")
    readme = _replace(readme, "<!-- BEGIN generated inputs", "<!-- END generated inputs", readme_table(), README)
    return {ACTION: action, README: readme}


def main(argv: list[str]) -> int:
    stale = [path for path, text in render().items() if path.read_text(encoding="utf-8") != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path} is out of date with the CLI's flags: run python {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in render().items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
