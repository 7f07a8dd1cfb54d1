"""What a run produces: each trigger's decision and status, and the plan's outcome.

The values are what the result JSON, the CI outputs and the Jenkins step read: they never change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from trigger_schedule.secrets import REDACTOR


class Decision(StrEnum):
    """What was done about a trigger."""

    PENDING = "pending"
    TRIGGERED = "triggered"
    ADOPTED = "adopted"
    SKIPPED = "skipped"
    NOT_STARTED = "not-started"
    ERROR = "error"
    DRY_RUN = "dry-run"
    GATE_FAILED = "gate-failed"


class Status(StrEnum):
    """How a trigger ended."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed-out"
    TRIGGERED = "triggered"  # started without waiting
    SKIPPED = "skipped"
    NOT_STARTED = "not-started"
    ERROR = "error"
    DRY_RUN = "dry-run"
    GATE_FAILED = "gate-failed"


# Statuses that fail a pipeline step (and a JUnit case).
FAILED_STATUSES = frozenset({Status.FAILED, Status.ERROR, Status.TIMED_OUT, Status.CANCELLED})
# Statuses after which a dependant may start.
PASSED_STATUSES = frozenset({Status.SUCCEEDED, Status.TRIGGERED, Status.DRY_RUN})
SKIPPED_STATUSES = frozenset({Status.SKIPPED, Status.NOT_STARTED})
# The plan's status is the first of these any trigger has.
_OUTRANKING = (Status.ERROR, Status.GATE_FAILED, Status.FAILED, Status.TIMED_OUT, Status.CANCELLED)


@dataclass
class TriggerResult:
    name: str
    job: str
    platform: str
    decision: Decision = Decision.PENDING
    reason: str = ""
    status: Status = Status.PENDING
    run_id: str | None = None
    run_url: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    attempts: int = 0
    exit_code: int = 0
    idempotency_key: str | None = None
    params: Any = None
    request: Any = None  # the request a dry run would send
    platform_state: str | None = None
    attempt_runs: list[dict[str, Any]] = field(default_factory=list)
    compensation: dict[str, Any] | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        if data["request"] is None:
            data.pop("request")
        return REDACTOR.redact_data(data)  # type: ignore[no-any-return]


@dataclass
class Outcome:
    results: list[TriggerResult] = field(default_factory=list)
    exit_code: int = 0
    interrupted_by: int = 0

    @property
    def status(self) -> Status:
        statuses = {r.status for r in self.results}
        for status in _OUTRANKING:
            if status in statuses:
                return status
        if statuses <= SKIPPED_STATUSES:
            return Status.SKIPPED
        if Status.DRY_RUN in statuses:
            return Status.DRY_RUN
        if Status.TRIGGERED in statuses:
            return Status.TRIGGERED
        return Status.SUCCEEDED
