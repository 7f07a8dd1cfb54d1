"""The lifecycle of one trigger, from decision to outcome: condition, window, delay, gate, concurrency,
attempts, waiting, compensation and notifications."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from trigger_schedule import notify, telemetry
from trigger_schedule.clock import Clock
from trigger_schedule.conditions import evaluate_when
from trigger_schedule.console import Console
from trigger_schedule.durations import format_duration
from trigger_schedule.errors import ExitCode, Interrupted, PlatformError, TriggerScheduleError, WaitTimeout
from trigger_schedule.gate import GateFailed, wait_until_healthy
from trigger_schedule.http import bounded_by
from trigger_schedule.idempotency import idempotency_key
from trigger_schedule.options import schema_default
from trigger_schedule.plan import TriggerSpec
from trigger_schedule.platforms.base import Platform, RunRef, RunState, RunStatus, TriggerRequest
from trigger_schedule.results import Decision, Status, TriggerResult
from trigger_schedule.retrying import Retrying, stop_after_attempt, wait_fixed, wait_within
from trigger_schedule.secrets import REDACTOR
from trigger_schedule.suspension import Pause, Steps, Suspension, WaitFor
from trigger_schedule.templating import render
from trigger_schedule.urls import resolve_url

_STATUS_OF_STATE = {
    RunState.SUCCEEDED: Status.SUCCEEDED,
    RunState.FAILED: Status.FAILED,
    RunState.CANCELLED: Status.CANCELLED,
}


# How long cancelling a run may take once the trigger's deadline has passed or the job was interrupted.
CANCEL_GRACE_S = 10.0


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class TriggerLifecycle:
    """One trigger from decision to outcome; fills in its TriggerResult.

    `steps()` is a generator that yields whenever the trigger waits (for a run, or a pause), so the
    plan's one waiter holds the wait, not a thread; it is resumed with the run's final status, or has
    WaitTimeout or Interrupted thrown in where it waited.
    """

    def __init__(
        self,
        trigger: TriggerSpec,
        result: TriggerResult,
        *,
        context: Mapping[str, Any],
        platform_of: Callable[[str], Platform],
        clock: Clock,
        console: Console,
        environ: Mapping[str, str],
        dry_run: bool = False,
        force_new: bool = False,
    ) -> None:
        self.trigger = trigger
        self.result = result
        self.context = context
        self.platform_of = platform_of
        self.clock = clock
        self.console = console
        self.environ = environ
        self.dry_run = dry_run
        self.force_new = force_new
        self.run: RunRef | None = None
        self.span: telemetry.Span = telemetry.Span()

    def say(self, text: str) -> None:
        self.console.info(f"[{self.trigger.name}] {text}")

    # -- the whole life of one trigger ------------------------------------------------------

    def steps(self) -> Steps:
        trigger, result = self.trigger, self.result
        started = self.clock.monotonic()
        deadline = started + trigger.timeout
        self.span = telemetry.start_trigger_span(trigger)
        try:
            with bounded_by(deadline):
                yield from self._decide_and_start(started, deadline)
        except Interrupted as exc:
            result.status = Status.CANCELLED
            result.reason = self._after_interrupt(exc)
            result.exit_code = int(exc.exit_code)
        except WaitTimeout as exc:
            result.status = Status.TIMED_OUT
            result.exit_code = int(exc.exit_code)
            result.reason = exc.message
            if trigger.on_timeout == "cancel" and result.run_id:
                result.reason += "; " + self._cancel("timeout")
        except GateFailed as exc:
            result.decision, result.status = Decision.GATE_FAILED, Status.GATE_FAILED
            result.exit_code = int(exc.exit_code)
            result.reason = exc.message
            self.console.error(f"[{trigger.name}] {exc}")
        except TriggerScheduleError as exc:
            result.status = Status.ERROR
            if result.decision is Decision.PENDING:
                result.decision = Decision.ERROR
            result.exit_code = int(exc.exit_code)
            result.reason = str(exc)
            self.console.error(f"[{trigger.name}] {exc}")
        except Exception as exc:  # a bug: this trigger reports it, the others go on
            result.status = Status.ERROR
            if result.decision is Decision.PENDING:
                result.decision = Decision.ERROR
            result.exit_code = int(ExitCode.INTERNAL)
            result.reason = f"internal error: {type(exc).__name__}: {exc}"
            self.console.error(f"[{trigger.name}] {result.reason}")
            import traceback

            self.console.debug(traceback.format_exc())  # shown under --debug, redacted like every line
        finally:
            if result.decision not in (Decision.SKIPPED, Decision.PENDING) or result.run_id:
                result.finished_at = _iso(self.clock.now())
                result.duration_s = round(self.clock.monotonic() - started, 3)
        if (
            result.status in (Status.FAILED, Status.TIMED_OUT)
            and trigger.on_failure
            and not self.clock.cancellation.is_set()
        ):
            yield from self._compensate()
        self._notify()
        telemetry.end_trigger_span(self.span, result)

    def _decide_and_start(self, started: float, deadline: float) -> Steps:
        trigger, result = self.trigger, self.result
        decision = evaluate_when(trigger.when, self.context, trigger.where + ".when")
        if not decision.run:
            self._skip(decision.reason)
            return
        result.reason = decision.reason
        params = render(dict(trigger.params), self.context, trigger.where + ".params")
        result.params = REDACTOR.redact_data(params)
        force_new = trigger.force_new or self.force_new
        key = idempotency_key(self.context, trigger.name, trigger.job)
        if force_new:  # a fresh key, or the scheduler would hand back the earlier run
            key = f"{key}-{secrets.token_hex(4)}"
        result.idempotency_key = key
        platform = self.platform_of(trigger.platform)
        proceed, start_at = yield from self._window(deadline)
        if not proceed:
            return
        request = TriggerRequest(
            job=trigger.job,
            params=params,
            idempotency_key=key,
            provenance=_provenance(self.context),
            start_at=start_at,
            labels=trigger.labels,
        )
        if self.dry_run:
            self._dry_run(platform, request)
            return
        yield from self._delay()
        if trigger.gate:
            gate = replace(trigger.gate, url=resolve_url(trigger.gate.url, self.environ, trigger.where + ".gate.url"))
            self.say(
                self.span.timed("gate", lambda: wait_until_healthy(gate, self.clock, lambda text, _: self.say(text)))
            )
        if not (yield from self._concurrency(platform, deadline, started, force_new)):
            return
        result.started_at = _iso(self.clock.now())
        yield from self._attempts(platform, request, deadline, started, force_new)

    # -- before the trigger -----------------------------------------------------------------

    def _skip(self, reason: str) -> None:
        self.result.decision, self.result.status = Decision.SKIPPED, Status.SKIPPED
        self.result.reason = reason
        self.say(f"skipped: {reason}")

    def _window(self, deadline: float) -> Generator[Suspension, object, tuple[bool, datetime | None]]:
        """Whether to go on, and the time to defer the run to (None: now)."""
        window = self.trigger.window
        if window is None:
            return True, None
        now = self.clock.now()
        if window.is_open(now):
            return True, None
        opening = window.next_opening(now)
        wait_s = (opening - now).total_seconds()
        where = f"outside the window {window.describe()}; it opens at {_iso(opening)}"
        if window.outside == "skip":
            self._skip(where)
            return False, None
        if window.outside == "defer":
            self.say(f"{where}: the run is scheduled for then")
            return True, opening
        if self.clock.monotonic() + wait_s > deadline:
            raise WaitTimeout(
                f"{where}, after the timeout", hint="raise timeout:, or use window.outside: defer or skip"
            )
        self.say(f"{where}: waiting {format_duration(wait_s)}")
        yield Pause(wait_s)
        return True, None

    def _delay(self) -> Steps:
        if self.trigger.delay <= 0:
            return
        self.say(f"waiting {format_duration(self.trigger.delay)} before triggering")
        yield Pause(self.trigger.delay)

    def _concurrency(
        self, platform: Platform, deadline: float, started: float, force_new: bool
    ) -> Generator[Suspension, object, bool]:
        policy = self.trigger.concurrency
        if policy == "allow":
            return True
        request_key = self.result.idempotency_key or ""
        if not force_new and platform.find_existing(self._request_for(request_key), deadline) is not None:
            return True  # our own earlier run is not "another" run: adopt it below
        active = platform.list_active(self.trigger.job, deadline)
        if not active:
            return True
        ids = ", ".join(run.run_id for run in active)
        if policy == "skip":
            self._skip(f"concurrency: skip: {self.trigger.job} already has active run(s) {ids}")
            return False
        if policy == "cancel-previous":
            for run in active:
                platform.cancel(run)
                self.say(f"concurrency: cancelled the active run {run.run_id}")
            return True
        self.say(f"concurrency: waiting for active run(s) {ids} to end")
        for run in active:
            name = f"{self.trigger.name} (waiting for {run.run_id})"
            yield from self._wait(platform, run, deadline, started, name, False)
        return True

    def _request_for(self, key: str) -> TriggerRequest:
        return TriggerRequest(job=self.trigger.job, params={}, idempotency_key=key)

    def _dry_run(self, platform: Platform, request: TriggerRequest) -> None:
        prepared = platform.prepare_trigger(request)
        self.result.decision, self.result.status = Decision.DRY_RUN, Status.DRY_RUN
        self.result.request = {
            "method": prepared.method,
            "url": prepared.url,
            "headers": dict(prepared.headers),
            "body": prepared.body,
        }
        self.say(
            f"would send {prepared.method} {prepared.url}\n"
            + json.dumps(REDACTOR.redact_data(self.result.request), indent=2, ensure_ascii=False)
        )

    # -- triggering and waiting -------------------------------------------------------------

    def _attempts(
        self, platform: Platform, request: TriggerRequest, deadline: float, started: float, force_new: bool
    ) -> Steps:
        trigger, result = self.trigger, self.result
        retrying = Retrying(
            stop=stop_after_attempt(trigger.retries + 1),
            wait=wait_within(wait_fixed(trigger.retry_delay), deadline, self.clock),
            clock=self.clock,
            before_sleep=lambda state: self.say(
                f"attempt {state.attempt} failed; retrying in {format_duration(state.next_wait)}"
            ),
        )
        for state in retrying:
            # Retries get keys of their own, still deterministic: a CI re-run adopts them too.
            retry = state.attempt - 1
            key = request.idempotency_key if retry == 0 else f"{request.idempotency_key}-retry{retry}"
            current = replace(request, idempotency_key=key)
            final = yield from self._start_and_wait(platform, current, deadline, started, force_new)
            result.attempt_runs.append({"run_id": result.run_id, "status": result.status, "decision": result.decision})
            result.attempts = len(result.attempt_runs)
            if final is None or final.state is not RunState.FAILED:
                break

    def _start_and_wait(
        self, platform: Platform, request: TriggerRequest, deadline: float, started: float, force_new: bool
    ) -> Generator[Suspension, object, RunStatus | None]:
        trigger, result = self.trigger, self.result
        existing = None if force_new else platform.find_existing(request, deadline)
        if existing is not None:
            run, adopted = existing, True
        else:
            outcome = self.span.timed("trigger request", lambda: platform.trigger(request, deadline), client=True)
            run, adopted = outcome.run, outcome.adopted
        self.run = run
        result.decision = Decision.ADOPTED if adopted else Decision.TRIGGERED
        result.run_id, result.run_url = run.run_id, run.url
        verb = "adopted the run this CI context started before:" if adopted else "triggered"
        when = f" to start at {_iso(request.start_at)}" if request.start_at else ""
        self.say(f"{verb} {trigger.job} run {run.run_id}{when}{' ' + run.url if run.url else ''}")
        if not trigger.wait:
            result.status = Status.TRIGGERED
            return None
        waiting = self.span.child("wait", {"trigger_schedule.run.id": run.run_id})
        final = yield from self._wait(
            platform,
            run,
            deadline,
            started,
            trigger.name,
            trigger.logs,
            on_status=lambda s: setattr(result, "platform_state", s.raw),
        )
        waiting.end(failed=None if final.state is RunState.SUCCEEDED else f"the run ended {final.raw}")
        result.status = _STATUS_OF_STATE[final.state]
        if final.state is RunState.SUCCEEDED:
            result.exit_code = 0
        else:
            result.exit_code = int(ExitCode.JOB_FAILED)
            result.reason = f"the {trigger.job} run ended {final.raw}"
        return final

    def _wait(
        self,
        platform: Platform,
        run: RunRef,
        deadline: float,
        started: float,
        name: str,
        logs: bool,
        on_status: Callable[[RunStatus], None] | None = None,
    ) -> Generator[Suspension, object, RunStatus]:
        final = yield WaitFor(
            platform=platform,
            run=run,
            job=self.trigger.job,
            deadline=deadline,
            started=started,
            name=name,
            logs=logs,
            poll_interval=self.trigger.poll_interval,
            poll_max_interval=self.trigger.poll_max_interval,
            on_status=on_status,
        )
        assert isinstance(final, RunStatus), "a run's wait resumes with its final status"
        return final

    # -- afterwards -------------------------------------------------------------------------

    def _after_interrupt(self, exc: Interrupted) -> str:
        signal_name = "SIGINT" if exc.signum == 2 else "SIGTERM"
        if not self.result.run_id:
            return f"interrupted by {signal_name} before a run started"
        if not self.trigger.cancel_on_interrupt or self.result.decision is Decision.ADOPTED:
            return f"interrupted by {signal_name}; run {self.result.run_id} left running"
        return f"interrupted by {signal_name}; " + self._cancel(signal_name)

    def _cancel(self, why: str) -> str:
        run_id = self.result.run_id or ""
        try:
            # Past the trigger's deadline (a timeout) or after a signal: the cancel gets a grace of its own.
            with bounded_by(self.clock.monotonic() + CANCEL_GRACE_S):
                self.platform_of(self.trigger.platform).cancel(self.run or RunRef(run_id, self.result.run_url))
        except PlatformError as exc:
            self.console.warn(f"[{self.trigger.name}] could not cancel run {run_id}: {exc.message}")
            return f"cancelling run {run_id} failed: {exc.message}"
        self.say(f"cancelled run {run_id} ({why})")
        return f"run {run_id} cancelled"

    def _compensate(self) -> Steps:
        """Start the on-failure job; its outcome sits beside the original, which stays the exit code."""
        spec = self.trigger.on_failure or {}
        job = str(spec["job"])
        where = self.trigger.where + ".on-failure"
        record: dict[str, Any] = {"job": job, "status": Status.ERROR, "run_id": None, "run_url": None}
        self.result.compensation = record
        span = self.span.child("compensation", {"trigger_schedule.job": job})
        from trigger_schedule.durations import parse_duration

        try:
            platform = self.platform_of(str(spec.get("platform") or self.trigger.platform))
            params = render(dict(spec.get("params") or {}), self.context, where + ".params")
            key = idempotency_key(self.context, self.trigger.name + ":on-failure", job)
            self.say(f"the run {self.result.status}: starting the compensating job {job}")
            started = self.clock.monotonic()
            deadline = started + parse_duration(spec.get("timeout", schema_default("on-failure", "timeout")))
            with bounded_by(deadline):  # every request of the compensation, as of the trigger
                request = TriggerRequest(
                    job=job, params=params, idempotency_key=key, provenance=_provenance(self.context)
                )
                existing = platform.find_existing(request, deadline)
                run = (
                    existing
                    or span.timed("trigger request", lambda: platform.trigger(request, deadline), client=True).run
                )
                record.update(
                    run_id=run.run_id, run_url=run.url, decision=Decision.ADOPTED if existing else Decision.TRIGGERED
                )
                if not spec.get("wait", schema_default("on-failure", "wait")):
                    record["status"] = Status.TRIGGERED
                    return
                name = f"{self.trigger.name} on-failure"
                final = yield from self._wait(platform, run, deadline, started, name, self.trigger.logs)
                record["status"] = _STATUS_OF_STATE[final.state]
        except WaitTimeout as exc:
            record.update(status=Status.TIMED_OUT, reason=exc.message)
        except TriggerScheduleError as exc:
            record["reason"] = exc.message
            self.console.warn(f"[{self.trigger.name}] compensating job {job}: {exc.message}")
        finally:
            telemetry.end_compensation_span(span, record)
        self.say(f"compensating job {job}: {record['status']}")

    def _notify(self) -> None:
        if not self.trigger.notify:
            return
        event = notify.event_for(self.result.status)
        title, body = notify.message(self.result.public(), self.context)
        for entry in self.trigger.notify:
            events = entry.get("on") or ["failure", "timeout", "gate-failed"]
            if event not in events:
                continue
            problems = notify.send(list(entry["urls"]), title, body, self.environ)
            self.result.notifications.append({"event": event, "delivered": not problems, "problems": problems})
            for problem in problems:
                self.console.warn(f"[{self.trigger.name}] notification not delivered: {problem}")


def _provenance(context: Mapping[str, Any]) -> dict[str, str]:
    ci = context["ci"]
    keys = ("system", "repository", "sha", "ref", "pipeline_url", "actor")
    return {f"ci.{k}": str(ci.get(k, "")) for k in keys if ci.get(k)}
