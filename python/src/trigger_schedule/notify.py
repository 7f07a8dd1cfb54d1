"""Notifications through Apprise (Slack, DingTalk, WeCom, Feishu, Teams, email, JSON webhooks, ...).

Optional: installed with `pip install trigger-schedule[notify]`. A failed notification is reported
and never changes the exit code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from trigger_schedule.results import Status
from trigger_schedule.secrets import REDACTOR

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Result status -> notification event.
_EVENT_OF_STATUS = {
    Status.SUCCEEDED: "success",
    Status.TRIGGERED: "success",
    Status.FAILED: "failure",
    Status.ERROR: "failure",
    Status.CANCELLED: "failure",
    Status.TIMED_OUT: "timeout",
    Status.SKIPPED: "skipped",
    Status.GATE_FAILED: "gate-failed",
}


def event_for(status: Status) -> str | None:
    return _EVENT_OF_STATUS.get(status)


def expand_url(url: str, environ: Mapping[str, str]) -> str:
    """`${VAR}` in a URL comes from the environment; the values are secrets (webhook keys, passwords)."""

    def value(match: re.Match[str]) -> str:
        found = environ.get(match.group(1), "")
        REDACTOR.add(found)
        return found

    return _ENV_REF.sub(value, url)


def message(result: Mapping[str, Any], context: Mapping[str, Any]) -> tuple[str, str]:
    """Title and body: job, status, duration, run URL and the CI pipeline URL."""
    ci, deploy = context["ci"], context["deploy"]
    title = f"[trigger-schedule] {result['name']}: {result['status']}"
    lines = [
        f"job: {result['job']} ({result['platform']})",
        f"status: {result['status']}",
    ]
    if result.get("duration_s") is not None:
        lines.append(f"duration: {result['duration_s']:.1f}s")
    if result.get("run_url") or result.get("run_id"):
        lines.append(f"run: {result.get('run_url') or result.get('run_id')}")
    if deploy.get("environment") or deploy.get("version"):
        lines.append(f"deploy: {deploy.get('version', '')} to {deploy.get('environment', '')}".strip())
    if ci.get("pipeline_url"):
        lines.append(f"pipeline: {ci['pipeline_url']}")
    if result.get("reason"):
        lines.append(f"reason: {result['reason']}")
    return REDACTOR.redact(title), REDACTOR.redact("\n".join(lines))


def send(urls: Sequence[str], title: str, body: str, environ: Mapping[str, str]) -> list[str]:
    """Deliver to every URL; return one problem line per URL that failed (empty when all went out)."""
    try:
        import apprise
    except ImportError:
        return ["notifications need Apprise: pip install 'trigger-schedule[notify]'"]
    problems = []
    for raw in urls:
        url = expand_url(raw, environ)
        notifier = apprise.Apprise()
        if not notifier.add(url):
            problems.append(f"not a notification URL Apprise understands: {REDACTOR.redact(raw)}")
            continue
        if not notifier.notify(title=title, body=body):
            problems.append(f"delivery failed: {REDACTOR.redact(raw)}")
    return problems
