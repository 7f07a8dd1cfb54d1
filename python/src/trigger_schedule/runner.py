"""Run a plan: decide, trigger (or adopt), wait, in `needs` order with bounded parallelism."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import Any

from trigger_schedule.backoff import Backoff
from trigger_schedule.clock import Clock
from trigger_schedule.conditions import evaluate_when
from trigger_schedule.console import Console
from trigger_schedule.errors import (
    ConfigError,
    ExitCode,
    Interrupted,
    PlatformError,
    TriggerScheduleError,
    WaitTimeout,
)
from trigger_schedule.http import HttpClient, HttpOptions, TlsOptions
from trigger_schedule.idempotency import idempotency_key
from trigger_schedule.plan import Plan, PlatformSpec, TriggerSpec
from trigger_schedule.platforms import load as load_platform
from trigger_schedule.platforms.base import Platform, PlatformConfig, RunRef, RunState, TriggerRequest
from trigger_schedule.secrets import REDACTOR, read_secret
from trigger_schedule.templating import render

# The order in which one exit code outranks another when several triggers fail differently.
_EXIT_PRIORITY = [
    ExitCode.USAGE,
    ExitCode.AUTH,
    ExitCode.REJECTED,
    ExitCode.UNREACHABLE,
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


@dataclass
class Outcome:
    results: list[TriggerResult] = field(default_factory=list)
    exit_code: int = 0
    interrupted_by: int = 0

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        for word in ("error", "failed", "timed-out", "cancelled"):
            if word in statuses:
                return word
        if statuses <= {"skipped", "not-started"}:
            return "skipped"
        if "dry-run" in statuses:
            return "dry-run"
        if "triggered" in statuses:
            return "triggered"
        return "succeeded"


def build_platform(spec: PlatformSpec, clock: Clock, console: Console, environ: Mapping[str, str]) -> Platform:
    """A platform with its credentials read from env vars or files (never from the plan)."""
    auth = dict(spec.auth)
    auth_type = auth.get("type", "bearer")
    what = f"platform {spec.name}"
    token = username = password = None
    if auth_type in ("bearer", "header"):
        token = read_secret(
            env_name=auth.get("token-env", "TRIGGER_SCHEDULE_TOKEN"),
            file_path=auth.get("token-file"),
            environ=environ,
            what=what,
        )
    elif auth_type == "basic":
        username = environ.get(auth.get("username-env", "TRIGGER_SCHEDULE_USERNAME"), "")
        password = (
            read_secret(
                env_name=auth.get("password-env", "TRIGGER_SCHEDULE_PASSWORD"),
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
        url=_expand_url(spec, environ),
        token=token,
        auth_type=auth_type,
        auth_header=auth.get("header", "Authorization"),
        username=username,
        password=password,
        options=spec.options,
        environ=environ,
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
                    self.plan.platforms[name], self.clock, self.console, self.environ
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
        started = self.clock.monotonic()
        deadline = started + trigger.timeout
        try:
            self._decide_and_trigger(trigger, result, started, deadline)
        except Interrupted as exc:
            result.status = "cancelled"
            result.reason = self._cancel_after_interrupt(trigger, result, exc)
            result.exit_code = int(exc.exit_code)
        except WaitTimeout as exc:
            result.status = "timed-out"
            result.exit_code = int(exc.exit_code)
            result.reason = exc.message
            if trigger.on_timeout == "cancel" and result.run_id:
                result.reason += "; " + self._cancel(trigger, result, "timeout")
        except TriggerScheduleError as exc:
            result.status = "error"
            if result.decision == "pending":
                result.decision = "error"
            result.exit_code = int(exc.exit_code)
            result.reason = str(exc)
            self.console.error(f"[{trigger.name}] {exc}")
        finally:
            if result.decision not in ("skipped", "pending") or result.run_id:
                result.finished_at = self.clock.now().isoformat(timespec="seconds").replace("+00:00", "Z")
                result.duration_s = round(self.clock.monotonic() - started, 3)

    def _decide_and_trigger(self, trigger: TriggerSpec, result: TriggerResult, started: float, deadline: float) -> None:
        decision = evaluate_when(trigger.when, self.context, trigger.where + ".when")
        if not decision.run:
            result.decision = result.status = "skipped"
            result.reason = decision.reason
            self.console.info(f"[{trigger.name}] skipped: {decision.reason}")
            return
        params = render(dict(trigger.params), self.context, trigger.where + ".params")
        force_new = trigger.force_new or self.options.force_new
        key = idempotency_key(self.context, trigger.name, trigger.job)
        if force_new:  # a fresh key, or the scheduler would hand back the earlier run
            key = f"{key}-{secrets.token_hex(4)}"
        result.idempotency_key = key
        result.params = REDACTOR.redact_data(params)
        result.reason = decision.reason
        platform = self.platform(trigger.platform)
        request = TriggerRequest(
            job=trigger.job, params=params, idempotency_key=key, provenance=_provenance(self.context)
        )
        result.started_at = self.clock.now().isoformat(timespec="seconds").replace("+00:00", "Z")
        if self.options.dry_run:
            prepared = platform.prepare_trigger(request)
            result.decision = result.status = "dry-run"
            result.request = {
                "method": prepared.method,
                "url": prepared.url,
                "headers": dict(prepared.headers),
                "body": prepared.body,
            }
            self.console.info(
                f"[{trigger.name}] would send {prepared.method} {prepared.url}\n"
                + json.dumps(REDACTOR.redact_data(result.request), indent=2, ensure_ascii=False)
            )
            return
        existing = None
        if not force_new:
            existing = platform.find_existing(request, deadline)
        if existing is not None:
            run, adopted = existing, True
        else:
            result.attempts += 1
            outcome = platform.trigger(request, deadline)
            run, adopted = outcome.run, outcome.adopted
        self._started.append((trigger, platform, run))
        result.decision = "adopted" if adopted else "triggered"
        result.run_id, result.run_url = run.run_id, run.url
        verb = "adopted the run this CI context started before:" if adopted else "triggered"
        link = f" {run.url}" if run.url else ""
        self.console.info(f"[{trigger.name}] {verb} {trigger.job} run {run.run_id}{link}")
        if not trigger.wait:
            result.status = "triggered"
            return
        from trigger_schedule.waiting import wait_for_run

        final = wait_for_run(
            platform,
            run,
            clock=self.clock,
            deadline=deadline,
            started=started,
            backoff=Backoff(initial=trigger.poll_interval, cap=trigger.poll_max_interval, factor=1.5),
            console=self.console,
            name=trigger.name,
            logs=trigger.logs,
            on_status=lambda s: setattr(result, "platform_state", s.raw),
        )
        result.status = {RunState.SUCCEEDED: "succeeded", RunState.FAILED: "failed", RunState.CANCELLED: "cancelled"}[
            final.state
        ]
        if final.state is not RunState.SUCCEEDED:
            result.exit_code = int(ExitCode.JOB_FAILED)
            result.reason = f"the {trigger.job} run ended {final.raw}"

    def _cancel_after_interrupt(self, trigger: TriggerSpec, result: TriggerResult, exc: Interrupted) -> str:
        signal_name = "SIGINT" if exc.signum == 2 else "SIGTERM"
        if not result.run_id:
            return f"interrupted by {signal_name} before a run started"
        if not trigger.cancel_on_interrupt or result.decision == "adopted":
            return f"interrupted by {signal_name}; run {result.run_id} left running"
        return f"interrupted by {signal_name}; " + self._cancel(trigger, result, signal_name)

    def _cancel(self, trigger: TriggerSpec, result: TriggerResult, why: str) -> str:
        platform = self.platform(trigger.platform)
        try:
            platform.cancel(RunRef(result.run_id or "", result.run_url))
        except PlatformError as exc:
            self.console.warn(f"[{trigger.name}] could not cancel run {result.run_id}: {exc.message}")
            return f"cancelling run {result.run_id} failed: {exc.message}"
        self.console.info(f"[{trigger.name}] cancelled run {result.run_id} ({why})")
        return f"run {result.run_id} cancelled"


def _expand_url(spec: PlatformSpec, environ: Mapping[str, str]) -> str:
    """`url: ${VAR}` reads the URL from the environment, so one plan serves every stage."""
    if not spec.url.startswith("${"):
        return spec.url
    name = spec.url[2:-1]
    value = environ.get(name, "").rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(
            f"platforms.{spec.name}.url is ${{{name}}}, but {name} is "
            + ("not set" if not value else "not an http(s) URL"),
            hint=f"export {name}=https://your-scheduler before running",
        )
    return value


def _provenance(context: Mapping[str, Any]) -> dict[str, str]:
    ci = context["ci"]
    keys = ("system", "repository", "sha", "ref", "pipeline_url", "actor")
    return {f"ci.{k}": str(ci.get(k, "")) for k in keys if ci.get(k)}
