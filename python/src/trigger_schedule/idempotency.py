"""Deterministic idempotency keys: the same CI context and trigger always yield the same key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any


def idempotency_key(context: Mapping[str, Any], trigger_name: str, job: str) -> str:
    """From repository, commit, environment, trigger and job: stable across re-runs of a pipeline,
    different for a new commit or another environment."""
    ci, deploy = context["ci"], context["deploy"]
    parts = [ci.get("repository", ""), ci.get("sha", ""), deploy.get("environment", ""), trigger_name, job]
    digest = hashlib.sha256("\x1f".join(["trigger-schedule/v1", *map(str, parts)]).encode()).hexdigest()
    return f"ts-{digest[:40]}"
