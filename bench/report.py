"""What every benchmark does with its Markdown report: print it, and with --write keep it in bench/."""

from __future__ import annotations

from pathlib import Path


def publish(text: str, results: Path, write: bool) -> int:
    """Print the report; write it to `results` when asked. The benchmark's exit code (0)."""
    print(text)
    if write:
        results.write_text(text, encoding="utf-8")
    return 0
