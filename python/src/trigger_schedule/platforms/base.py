"""The one small interface every scheduler plug-in implements."""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar

from trigger_schedule.clock import Clock
from trigger_schedule.http import HttpClient
from trigger_schedule.secrets import MASK


class RunState(str, Enum):
    RUNNING = "running"  # queued, pending, running: anything not yet final
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self is not RunState.RUNNING


@dataclass(frozen=True)
class PlatformConfig:
    """One entry of the plan's `platforms:`, with secrets already read from their env vars."""

    name: str
    type: str
    url: str
    token: str | None = None
    auth_type: str = "bearer"
    auth_header: str = "Authorization"
    username: str | None = None
    password: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # Where plug-ins read further secrets named in their options (e.g. a signing key).
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    # Where plug-ins report what the user should know but that does not stop the run (a CI warning).
    warn: Callable[[str], None] = field(default=lambda _text: None, repr=False, compare=False)


def auth_headers(
    config: PlatformConfig,
    bearer_token: str | None = None,
    *,
    bearer_header: str = "Authorization",
    scheme: str = "Bearer",
) -> dict[str, str]:
    """The credential headers `auth:` asks for, the same for every plug-in.

    none: nothing; basic: `Authorization: Basic ...`; header: `<auth.header>: <token>`; bearer:
    `<bearer_header>: <scheme> <token>` (`bearer_token` in place of the configured one, e.g. with a
    prefix stripped). A token auth without a token sends nothing: a server with no auth of its own.
    """
    if config.auth_type == "none":
        return {}
    if config.auth_type == "basic":
        pair = f"{config.username or ''}:{config.password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    token = config.token if config.auth_type == "header" or bearer_token is None else bearer_token
    if not token:
        return {}
    if config.auth_type == "header":
        return {config.auth_header: token}
    return {bearer_header: f"{scheme} {token}" if scheme else token}


def masked(headers: Mapping[str, str]) -> dict[str, str]:
    """The same header names with their values masked, for --dry-run."""
    return dict.fromkeys(headers, MASK)


@dataclass(frozen=True)
class TriggerRequest:
    job: str
    params: Mapping[str, Any]
    idempotency_key: str
    # CI provenance (repository, sha, pipeline URL, actor) for platforms that can tag runs.
    provenance: Mapping[str, str] = field(default_factory=dict)
    # Start the run at this time instead of now (platforms with `can_defer`).
    start_at: datetime | None = None
    # The trigger's `labels:`, for platforms that can tag runs.
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRef:
    run_id: str
    url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerOutcome:
    run: RunRef
    adopted: bool = False


@dataclass(frozen=True)
class RunStatus:
    state: RunState
    raw: str  # the platform's own word, shown to users
    url: str | None = None
    poll_after: float | None = None  # when the scheduler asks to be polled next (a Retry-After), in seconds


@dataclass(frozen=True)
class LogChunk:
    text: str
    cursor: Any  # pass back to get what follows
    complete: bool = False


@dataclass(frozen=True)
class PreparedRequest:
    """What a trigger would send, for --dry-run (secrets already masked)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: Any


class Platform(ABC):
    """A scheduler plug-in. Registered under the entry-point group `trigger_schedule.platforms`."""

    type_name: ClassVar[str]
    # JSON Schema of the platform's `options:` block; validated with the plan.
    options_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # Whether `list_active` works (concurrency policies) and `TriggerRequest.start_at` is honoured.
    can_list_active: ClassVar[bool] = False
    can_defer: ClassVar[bool] = False
    # How many runs one `status_many` call can read; 0: one run per `status` call (a plug-in may set it to 0
    # on an instance, when it learns its server has no batch endpoint).
    batch_status_limit: int = 0
    # What the README's capability table says of the platform: adopts, waits, logs, cancel, defers, concurrency.
    capabilities: ClassVar[dict[str, str]] = {}

    def __init__(self, config: PlatformConfig, http: HttpClient, clock: Clock) -> None:
        self.config = config
        self.http = http
        self.clock = clock
        # The plan's options over the defaults its schema declares: one place for each default.
        self.opts: dict[str, Any] = {**self.option_defaults(), **dict(config.options)}

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """Each option's `default` from `options_schema`."""
        properties = cls.options_schema.get("properties", {})
        return {name: spec["default"] for name, spec in properties.items() if "default" in spec}

    @abstractmethod
    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        """Start a run. Raise the project's errors; never return a half-started run."""

    @abstractmethod
    def status(self, run: RunRef, deadline: float | None) -> RunStatus: ...

    def status_many(self, runs: Sequence[RunRef], deadline: float | None) -> dict[str, RunStatus]:
        """The statuses of up to `batch_status_limit` runs in one call, by run id (only called when that is
        above 0). A run missing from the answer is read with `status` on its own."""
        raise NotImplementedError

    def expected_duration(self, job: str, deadline: float | None) -> float | None:
        """How long a run of `job` usually takes, in seconds, from the platform's own history of finished
        runs; None when it keeps none. The waiter polls sparsely before then and closely around it."""
        return None

    def find_existing(self, request: TriggerRequest, deadline: float | None) -> RunRef | None:
        """The run an earlier attempt of this CI context started, if the platform can tell."""
        return None

    def list_active(self, job: str, deadline: float | None) -> list[RunRef]:
        """Runs of `job` not yet finished; only called when `can_list_active`."""
        raise NotImplementedError

    def connect_timeout(self, deadline: float) -> float:
        """How long opening a connection may take: the HTTP connect timeout, within the deadline (at least 1 s)."""
        return max(1.0, min(self.http.options.connect_timeout, deadline - self.clock.monotonic()))

    def watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus] | None:
        """Statuses pushed by the server (a long poll or stream), or None to be polled.

        An implementation yields at least every few seconds (a repeated status will do), so the
        runner can notice an interrupt between yields; it may stop early, and polling takes over.
        """
        return None

    def logs(self, run: RunRef, cursor: Any) -> LogChunk | None:
        """New log text since `cursor`, or None where the platform has no logs."""
        return None

    def cancel(self, run: RunRef) -> None:
        """Stop the run. Platforms that cannot cancel raise PlatformError."""
        from trigger_schedule.errors import PlatformError

        raise PlatformError(f"{self.type_name}: cancelling a run is not supported")

    @abstractmethod
    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        """The request `trigger` would send, for --dry-run."""
