"""Write the README's option tables from the option model and the plan schema (never by hand).

    .venv/bin/python scripts/readme_tables.py          rewrite the tables between their markers in README.md
    .venv/bin/python scripts/readme_tables.py --check  exit 1 if one is out of date (a test runs this)

Tables: every CLI flag with its variable and help (`flags`); the platform keys, and the trigger keys, each with
the schema's default and description (`platform-keys`, `trigger-keys`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from trigger_schedule.options import ALL_OPTIONS, Option
from trigger_schedule.plan_schema import base_schema

README = Path(__file__).resolve().parents[1] / "README.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return ""
    return f"`{json.dumps(node['default']) if not isinstance(node['default'], str) else node['default']}`"


def _flag(option: Option) -> str:
    spelled = ", ".join(option.flags)
    if option.kind == "bool":
        spelled = f"{option.flags[0]}/--no-{option.name}"
    elif option.metavar:
        spelled += f" {option.metavar}"
    return spelled


def flags_table() -> str:
    rows = ["| flag | env | meaning |", "|---|---|---|"]
    for option in ALL_OPTIONS:
        env = f"`{option.env}`" + (" (one per line)" if option.kind == "multi" else "")
        rows.append(f"| `{_cell(_flag(option))}` | {env} | {_cell(option.help)} |")
    return "\n".join(rows)


def _keys_table(sections: list[tuple[str, str]]) -> str:
    defs = base_schema()["$defs"]
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for prefix, name in sections:
        for key, node in defs[name]["properties"].items():
            if "$ref" in node and node["$ref"].removeprefix("#/$defs/") in ("auth", "tls"):
                continue  # their keys follow, prefixed
            description = node.get("description") or defs.get(node.get("$ref", "").removeprefix("#/$defs/"), {}).get(
                "description", ""
            )
            rows.append(f"| `{prefix}{key}` | {_cell(_default(node))} | {_cell(description)} |")
    return "\n".join(rows)


CAPABILITIES = (
    ("adopts", "adopts a re-run"), ("waits", "waits by"), ("logs", "logs"), ("cancel", "cancel"),
    ("defers", "deferred start"), ("concurrency", "concurrency"), ("batch", "batch status"),
)  # fmt: skip


def capabilities_table() -> str:
    """One row per built-in platform, from its class's `capabilities`."""
    from trigger_schedule import platforms

    rows = ["| type | " + " | ".join(title for _, title in CAPABILITIES) + " |", "|---" * (len(CAPABILITIES) + 1) + "|"]
    for name in platforms.available():
        said = platforms.load(name).capabilities
        rows.append(f"| {name} | " + " | ".join(_cell(said.get(key, "")) for key, _ in CAPABILITIES) + " |")
    return "\n".join(rows)


def tables() -> dict[str, str]:
    return {
        "capabilities": capabilities_table(),
        "flags": flags_table(),
        "platform-keys": _keys_table([("", "platform"), ("auth.", "auth"), ("tls.", "tls")]),
        "trigger-keys": _keys_table([("", "trigger"), ("", "trigger-options")]),
    }


def render(text: str) -> str:
    for name, table in tables().items():
        pattern = re.compile(rf"(<!-- BEGIN generated {name} [^\n]*-->\n).*?(<!-- END generated {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md: no markers for the generated table {name!r}")
        text = pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text, count=1)
    return text


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if wanted != current:
            print("README.md's option tables are out of date: run .venv/bin/python scripts/readme_tables.py")
            return 1
        return 0
    if wanted != current:
        README.write_text(wanted, encoding="utf-8")
        print("wrote README.md's option tables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
