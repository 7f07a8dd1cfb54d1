"""Runs the Groovy harness (tests/faces/jenkins) over a library folder: shared by the Jenkins step's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_runner import clean_env

HARNESS = Path(__file__).with_name("jenkins")


def groovy_env() -> dict[str, str]:
    """The tests' clean environment, without the token (only withCredentials may bind it), with a JAVA_HOME."""
    env = clean_env()
    env.pop("TRIGGER_SCHEDULE_TOKEN", None)
    javac = shutil.which("javac") or shutil.which("java")
    if javac:
        env["JAVA_HOME"] = str(Path(javac).resolve().parents[1])
    return env


def groovy_command(spec: Path, out: Path) -> list[str]:
    return ["groovy", "-cp", str(HARNESS), str(HARNESS / "run.groovy"), str(spec), str(out)]
