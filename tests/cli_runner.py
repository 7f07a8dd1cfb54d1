"""Run the real `trigger-schedule` CLI in a subprocess with a clean, CI-free environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

TOKEN = "tok-3f9a-CANARY-71c2e"

# Variables by which the CLI detects a CI system; the tests set the ones they mean to.
_CI_MARKERS = ("CI", "GITHUB_", "GITLAB_", "CI_", "JENKINS_", "BUILD_", "GIT_", "RUNNER_", "TRIGGER_SCHEDULE_")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CI_MARKERS)}
    env["TRIGGER_SCHEDULE_TOKEN"] = TOKEN
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trigger_schedule", *args],
        env=clean_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
