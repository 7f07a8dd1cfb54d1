"""Run a plan: decide, trigger (or adopt), wait, in `needs` order with bounded parallelism."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.errors import (
    ConfigError,
    ExitCode,
)
from trigger_schedule.execution import TriggerExecution
from trigger_schedule.http import HttpClient, HttpOptions, TlsOptions
from trigger_schedule.plan import Plan, PlatformSpec, TriggerSpec
from trigger_schedule.platforms import load as load_platform
from trigger_schedule.platforms.base import Platform, PlatformConfig, RunRef
from trigger_schedule.secrets import REDACTOR, credential_envs, read_secret
from trigger_schedule.urls import resolve_url

# The order in which one exit code outranks another when several triggers fail differently.
_EXIT_PRIORITY = [
    ExitCode.INTERNAL,
    ExitCode.USAGE,
    ExitCode.AUTH,
    ExitCode.REJECTED,
    ExitCode.UNREACHABLE,
    ExitCode.GATE_FAILED,
    ExitCode.TIMEOUT,
    ExitCode.JOB_FAILED,
]


@dataclass
class TriggerResult:
    name: str
    job: str
    platform: str
    decision: str = "pending"  # triggered | adopted | skipped | not-started | error | dry-run
    reason: str = ""
    status: str = "pending"  # succeeded | failed | cancelled | timed-out | triggered | skipped | ...
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
class RunOptions:
    dry_run: bool = False
    force_new: bool = False
    only: tuple[str, ...] = ()
    debug: bool = False
    token_env: str | None = None  # --token-env: where platforms without auth.token-env find their token


@dataclass
class Outcome:
    results: list[TriggerResult] = field(default_factory=list)
    exit_code: int = 0
    interrupted_by: int = 0

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        for word in ("error", "gate-failed", "failed", "timed-out", "cancelled"):
            if word in statuses:
                return word
        if statuses <= {"skipped", "not-started"}:
            return "skipped"
        if "dry-run" in statuses:
            return "dry-run"
        if "triggered" in statuses:
            return "triggered"
        return "succeeded"


def build_platform(
    spec: PlatformSpec,
    clock: Clock,
    console: Console,
    environ: Mapping[str, str],
    default_token_env: str | None = None,
) -> Platform:
    """A platform with its credentials read from env vars or files (never from the plan)."""
    auth = dict(spec.auth)
    auth_type = auth.get("type", "bearer")
    what = f"platform {spec.name}"
    token = username = password = None
    token_env, username_env, password_env = credential_envs(auth, default_token_env)
    if auth_type in ("bearer", "header"):
        token = read_secret(
            env_name=token_env,
            file_path=auth.get("token-file"),
            environ=environ,
            what=what,
        )
    elif auth_type == "basic":
        username = environ.get(username_env, "")
        password = (
            read_secret(
                env_name=password_env,
                file_path=None,
                environ=environ,
                what=what,
            )
            or ""
        )
        REDACTOR.add_basic_auth(username, password)
    tls = dict(spec.tls)
    http = HttpClient(
        HttpOptions(
            connect_timeout=spec.connect_timeout,
            read_timeout=spec.read_timeout,
            max_attempts=spec.max_attempts,
            tls=TlsOptions(
                tls.get("ca-bundle"), tls.get("client-cert"), tls.get("client-key"), bool(tls.get("insecure", False))
            ),
            headers=dict(spec.headers),
        ),
        clock,
        debug=console.debug if console.debug_enabled else None,
        warn=console.warn,
    )
    config = PlatformConfig(
        name=spec.name,
        type=spec.type,
        url=resolve_url(spec.url, environ, f"platforms.{spec.name}.url"),
        token=token,
        auth_type=auth_type,
        auth_header=auth.get("header", "Authorization"),
        username=username,
        password=password,
        options=spec.options,
        environ=environ,
        warn=lambda text: console.warn(f"platform {spec.name}: {text}"),
    )
    return load_platform(spec.type)(config, http, clock)


class PlanRunner:
    def __init__(
        self,
        plan: Plan,
        context: Mapping[str, Any],
        *,
        clock: Clock,
        console: Console,
        environ: Mapping[str, str],
        options: RunOptions,
    ) -> None:
        self.plan = plan
        self.context = context
        self.clock = clock
        self.console = console
        self.environ = environ
        self.options = options
        self._platforms: dict[str, Platform] = {}
        self._platform_lock = threading.Lock()
        self._started: list[tuple[TriggerSpec, Platform, RunRef]] = []

    def platform(self, name: str) -> Platform:
        with self._platform_lock:
            if name not in self._platforms:
                self._platforms[name] = build_platform(
                    self.plan.platforms[name], self.clock, self.console, self.environ, self.options.token_env
                )
            return self._platforms[name]

    def selected(self) -> list[TriggerSpec]:
        if not self.options.only:
            return list(self.plan.triggers)
        names = {t.name for t in self.plan.triggers}
        unknown = [n for n in self.options.only if n not in names]
        if unknown:
            raise ConfigError(
                f"--only names {', '.join(unknown)}, not in the plan",
                hint=f"triggers in {self.plan.source}: {', '.join(sorted(names))}",
            )
        return [t for t in self.plan.triggers if t.name in self.options.only]

    def prepare(self) -> None:
        """Everything that can fail before a request is sent: credentials, clients, parameters."""
        for trigger in self.selected():
            self.platform(trigger.platform)

    def run(self) -> Outcome:
        triggers = self.selected()
        self.prepare()
        results = {t.name: TriggerResult(t.name, t.job, t.platform) for t in triggers}
        pending = {t.name: t for t in triggers}
        selected_names = set(pending)
        done: set[str] = set()
        outcome = Outcome(results=[results[t.name] for t in triggers])
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(max_workers=self.plan.max_parallel, thread_name_prefix="trigger") as pool:
            for _ in range(len(triggers) + 1):
                for name in list(pending):
                    trigger = pending[name]
                    needs = [n for n in trigger.needs if n in selected_names]
                    if any(n not in done for n in needs):
                        continue
                    blocker = next(
                        (n for n in needs if results[n].status not in ("succeeded", "triggered", "dry-run")), None
                    )
                    del pending[name]
                    if self.clock.stop.is_set():
                        self._not_started(results[name], "the pipeline was interrupted before it started")
                        done.add(name)
                    elif blocker is not None:
                        self._blocked(results[name], blocker, results[blocker])
                        done.add(name)
                    else:
                        running[pool.submit(self._run_one, trigger, results[name])] = name
                if not running:
                    if not pending:
                        break
                    continue
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    done.add(running.pop(future))
                    future.result()
        outcome.interrupted_by = getattr(self.clock, "signum", 0)
        outcome.exit_code = self._exit_code(outcome)
        return outcome

    def _exit_code(self, outcome: Outcome) -> int:
        if outcome.interrupted_by:
            return int(ExitCode.INTERRUPTED if outcome.interrupted_by == 2 else ExitCode.TERMINATED)
        codes = {r.exit_code for r in outcome.results}
        for code in _EXIT_PRIORITY:
            if code in codes:
                return int(code)
        return 0

    def _blocked(self, result: TriggerResult, blocker: str, blocker_result: TriggerResult) -> None:
        if blocker_result.status in ("skipped", "not-started"):
            result.decision = result.status = "skipped"
            result.reason = f"skipped because '{blocker}' was skipped ({blocker_result.reason})"
        else:
            self._not_started(result, f"not started because '{blocker}' {blocker_result.status}")

    def _not_started(self, result: TriggerResult, reason: str) -> None:
        result.decision = result.status = "not-started"
        result.reason = reason

    # -- one trigger ------------------------------------------------------------------------

    def _run_one(self, trigger: TriggerSpec, result: TriggerResult) -> None:
        TriggerExecution(
            trigger,
            result,
            context=self.context,
            platform_of=self.platform,
            clock=self.clock,
            console=self.console,
            options=self.options,
            environ=self.environ,
        ).execute()
