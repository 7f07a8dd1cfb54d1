"""The environment under which the faces' installers run offline: pip and uv from the lock's wheelhouse only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

WHEELHOUSE = Path(__file__).resolve().parents[2] / ".tools" / "wheelhouse"
SETUP_HINT = "run `bash scripts/tools/github.sh` first (scripts/test.sh does)"


def offline_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip and uv install from the wheelhouse only, with no config from the machine: a name it lacks fails."""
    if not (WHEELHOUSE / ".stamp").exists():
        pytest.fail(f"{WHEELHOUSE} is missing: {SETUP_HINT}")
    env = {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "UV_NO_CONFIG": "1",
        "UV_OFFLINE": "1",
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(WHEELHOUSE),
        "UV_CACHE_DIR": str(home / "uv-cache"),
    }
    env.update(extra or {})
    return env
