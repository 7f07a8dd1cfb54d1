"""Results in each CI's idiom: JSON, GitHub outputs and summary, a GitLab dotenv, JUnit, an audit log."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trigger_schedule.errors import exit_meaning
from trigger_schedule.results import FAILED_STATUSES, SKIPPED_STATUSES, Outcome, Status, TriggerResult
from trigger_schedule.secrets import REDACTOR


def result_document(outcome: Outcome, context: Mapping[str, Any]) -> dict[str, Any]:
    ci, deploy = context["ci"], context["deploy"]
    document = {
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "exit_meaning": exit_meaning(outcome.exit_code),
        "ci": {k: ci.get(k) for k in ("system", "repository", "sha", "ref", "pipeline_url", "actor")},
        "deploy": {k: deploy.get(k) for k in ("environment", "version", "previous_version", "status")},
        "triggers": [r.public() for r in outcome.results],
    }
    return REDACTOR.redact_data(document)  # type: ignore[no-any-return]


def primary(outcome: Outcome) -> TriggerResult | None:
    """The trigger whose run id and URL stand for the whole plan: the first that started a run."""
    return next((r for r in outcome.results if r.run_id), outcome.results[0] if outcome.results else None)


def _write(path: str | Path, text: str, mode: str = "w") -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as handle:
        handle.write(REDACTOR.redact(text))


def write_result_file(path: str, document: Mapping[str, Any]) -> None:
    _write(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def write_github_outputs(path: str, outcome: Outcome, document: Mapping[str, Any]) -> None:
    first = primary(outcome)
    delimiter = f"TRIGGER_SCHEDULE_{secrets.token_hex(8)}"
    lines = [
        f"status={outcome.status}",
        f"run-id={first.run_id or '' if first else ''}",
        f"run-url={first.run_url or '' if first else ''}",
        f"exit-code={outcome.exit_code}",
        f"result<<{delimiter}",
        json.dumps(document, ensure_ascii=False),
        delimiter,
    ]
    _write(path, "\n".join(lines) + "\n", mode="a")


def write_github_summary(path: str, outcome: Outcome, context: Mapping[str, Any]) -> None:
    deploy = context["deploy"]
    rows = ["| trigger | job | decision | status | run | duration |", "|---|---|---|---|---|---|"]
    for r in outcome.results:
        run = f"[{_md(r.run_id)}]({r.run_url})" if r.run_id and r.run_url else _md(r.run_id or "")
        took = f"{r.duration_s:.1f}s" if r.duration_s is not None else ""
        rows.append(f"| {_md(r.name)} | {_md(r.job)} | {r.decision} | {_icon(r.status)} {r.status} | {run} | {took} |")
    reasons = [f"- **{_md(r.name)}**: {_md(r.reason)}" for r in outcome.results if r.reason]
    version, environment = deploy.get("version", ""), deploy.get("environment", "")
    line = " ".join(
        part
        for part in (
            "Deploy",
            f"`{_md(version)}`" if version else "",
            f"to `{_md(environment)}`" if environment else "",
        )
        if part
    )
    head = f"### trigger-schedule: {outcome.status}\n\n" + (f"{line}\n" if line != "Deploy" else "")
    _write(path, "\n".join([head, *rows, "", *reasons, ""]) + "\n", mode="a")


def write_dotenv(path: str, outcome: Outcome) -> None:
    first = primary(outcome)
    values = {
        "TRIGGER_SCHEDULE_STATUS": outcome.status,
        "TRIGGER_SCHEDULE_RUN_ID": (first.run_id or "") if first else "",
        "TRIGGER_SCHEDULE_RUN_URL": (first.run_url or "") if first else "",
        "TRIGGER_SCHEDULE_EXIT_CODE": str(outcome.exit_code),
    }
    # One line each: GitLab's dotenv report takes no quoting or multi-line values.
    _write(path, "".join(f"{k}={_one_line(v)}\n" for k, v in values.items()))


def write_junit(path: str, outcome: Outcome) -> None:
    from xml.etree import ElementTree as ET  # only runs that ask for JUnit pay for the import

    suite = ET.Element("testsuite", name="trigger-schedule", tests=str(len(outcome.results)))
    failures = skipped = 0
    total = 0.0
    for r in outcome.results:
        case = ET.SubElement(
            suite, "testcase", classname=f"trigger-schedule.{r.platform}", name=r.name, time=f"{r.duration_s or 0:.3f}"
        )
        total += r.duration_s or 0
        if r.status in FAILED_STATUSES:
            failures += 1
            failure = ET.SubElement(case, "failure", type=r.status, message=REDACTOR.redact(r.reason[:500]))
            failure.text = REDACTOR.redact(f"{r.job}: {r.status}\nrun: {r.run_id or '-'} {r.run_url or ''}\n{r.reason}")
        elif r.status in SKIPPED_STATUSES:
            skipped += 1
            ET.SubElement(case, "skipped", message=REDACTOR.redact(r.reason))
        out = ET.SubElement(case, "system-out")
        out.text = REDACTOR.redact(f"decision: {r.decision}\nrun: {r.run_id or '-'} {r.run_url or ''}")
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{total:.3f}")
    _write(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")


def write_audit(path: str, outcome: Outcome, context: Mapping[str, Any], when: str) -> None:
    ci, deploy = context["ci"], context["deploy"]
    lines = []
    for r in outcome.results:
        entry = {
            "time": r.started_at or when,
            "who": ci.get("actor", ""),
            "ci": {k: ci.get(k, "") for k in ("system", "repository", "sha", "pipeline_url")},
            "environment": deploy.get("environment", ""),
            "version": deploy.get("version", ""),
            "trigger": r.name,
            "job": r.job,
            "platform": r.platform,
            "decision": r.decision,
            "why": r.reason,
            "status": r.status,
            "run_id": r.run_id,
            "idempotency_key": r.idempotency_key,
            "params": r.params,
        }
        lines.append(json.dumps(REDACTOR.redact_data(entry), ensure_ascii=False))
    _write(path, "\n".join(lines) + "\n", mode="a")


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _icon(status: Status) -> str:
    if status in (Status.SUCCEEDED, Status.TRIGGERED):
        return "✅"
    if status in SKIPPED_STATUSES:
        return "⏭️"
    return "❌" if status in FAILED_STATUSES else "•"


def write_error_outputs(
    environ: Mapping[str, str], exit_code: int, message: str, dotenv_file: str | None, result_file: str | None
) -> None:
    """When nothing ran (a config error), the CI still gets a status, an exit code and the error to act on."""
    document = {
        "status": Status.ERROR,
        "exit_code": exit_code,
        "exit_meaning": exit_meaning(exit_code),
        "error": REDACTOR.redact(message),
        "triggers": [],
    }
    if result_file:
        write_result_file(result_file, document)
    if environ.get("GITHUB_OUTPUT"):
        delimiter = f"TRIGGER_SCHEDULE_{secrets.token_hex(8)}"
        lines = [
            "status=error",
            "run-id=",
            "run-url=",
            f"exit-code={exit_code}",
            f"result<<{delimiter}",
            json.dumps(document, ensure_ascii=False),
            delimiter,
        ]
        _write(environ["GITHUB_OUTPUT"], "\n".join(lines) + "\n", mode="a")
    if environ.get("GITHUB_STEP_SUMMARY"):
        _write(
            environ["GITHUB_STEP_SUMMARY"],
            f"### trigger-schedule: error (exit {exit_code})\n\n```\n{message}\n```\n",
            mode="a",
        )
    if dotenv_file:
        _write(
            dotenv_file,
            f"TRIGGER_SCHEDULE_STATUS=error\nTRIGGER_SCHEDULE_RUN_ID=\nTRIGGER_SCHEDULE_RUN_URL=\n"
            f"TRIGGER_SCHEDULE_EXIT_CODE={exit_code}\n",
        )
