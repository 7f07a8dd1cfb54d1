"""Run the real `trigger-schedule` CLI in a subprocess with a clean, CI-free environment."""

from __future__ import annotations

import os
import secrets
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


def start_cli(*args: str, env: Mapping[str, str] | None = None, cwd: str | Path) -> subprocess.Popen[str]:
    """The CLI as a background process (stdout and stderr together), for tests that signal it."""
    return subprocess.Popen(
        [sys.executable, "-m", "trigger_schedule", *args],
        env=clean_env(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def github_env(**extra: str) -> dict[str, str]:
    """A GitHub Actions context with a commit of its own, so tests never adopt each other's runs."""
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_SHA": secrets.token_hex(20),
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REF": "refs/heads/main",
        **extra,
    }
