"""Run a plan: each trigger in `needs` order, with bounded parallelism, and the plan's exit code."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.errors import ConfigError, ExitCode
from trigger_schedule.plan import Plan, TriggerSpec
from trigger_schedule.plan_waiter import PlanWaiter
from trigger_schedule.platform_wiring import build_platform
from trigger_schedule.platforms.base import Platform
from trigger_schedule.results import PASSED_STATUSES, SKIPPED_STATUSES, Decision, Outcome, Status, TriggerResult
from trigger_schedule.suspension import Steps
from trigger_schedule.trigger_lifecycle import TriggerLifecycle

# Threads for the work before and after a wait (conditions, gates, trigger and cancel requests). Waiting
# itself holds none: the plan's one waiter holds every run, so `max-parallel` can be far above this.
START_WORKERS = 16

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


@dataclass(eq=False)
class _Task:
    """A trigger's lifecycle between its steps, with the context (ambient deadline) it runs in."""

    name: str
    steps: Steps
    context: contextvars.Context


# What a task reports when its lifecycle ends: its name, and the error if the lifecycle itself broke.
_Finished = tuple[str, BaseException | None]


@dataclass
class RunOptions:
    dry_run: bool = False
    force_new: bool = False
    only: tuple[str, ...] = ()
    debug: bool = False
    token_env: str | None = None  # --token-env: where platforms without auth.token-env find their token


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

    def platform(self, name: str) -> Platform:
        with self._platform_lock:
            if name not in self._platforms:
                spec = self.plan.platforms[name]
                self._platforms[name] = build_platform(
                    spec, self.clock, self.console, self.environ, self.options.token_env, self.options.dry_run
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
        outcome = Outcome(results=[results[t.name] for t in triggers])
        workers = min(self.plan.max_parallel, START_WORKERS)
        waiter = PlanWaiter(self.clock, self.console)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trigger") as pool:
                self._schedule(triggers, results, _Driver(pool, waiter))
        except BaseException:
            waiter.close(abandon=True)  # a lifecycle broke past its own handling: the plan ends with it
            raise
        waiter.close()
        outcome.interrupted_by = self.clock.cancellation.signum
        outcome.exit_code = self._exit_code(outcome)
        return outcome

    def _schedule(self, triggers: list[TriggerSpec], results: dict[str, TriggerResult], driver: _Driver) -> None:
        """Start each trigger once its needs are done, at most `max-parallel` in flight; each round ends
        one trigger at least, so there are no more rounds than triggers."""
        pending = {t.name: t for t in triggers}
        done: set[str] = set()
        in_flight = 0
        for _ in range(len(triggers) + 1):
            for name in list(pending):
                needs = [n for n in pending[name].needs if n in results]
                if in_flight >= self.plan.max_parallel or any(n not in done for n in needs):
                    continue
                trigger = pending.pop(name)
                if self._settle_unstartable(results, name, needs):
                    done.add(name)
                else:
                    driver.start(_Task(name, self._lifecycle(trigger, results[name]), contextvars.copy_context()))
                    in_flight += 1
            if not in_flight:
                if not pending:
                    return
                continue
            name, error = driver.finished.get()  # every lifecycle ends: its waits are bounded by its deadline
            if error is not None:
                raise error
            done.add(name)
            in_flight -= 1

    def _settle_unstartable(self, results: dict[str, TriggerResult], name: str, needs: list[str]) -> bool:
        """Whether the trigger ends before it starts: an interrupt, or a need that did not pass."""
        if self.clock.cancellation.is_set():
            _not_started(results[name], "the pipeline was interrupted before it started")
            return True
        blocker = next((n for n in needs if results[n].status not in PASSED_STATUSES), None)
        if blocker is None:
            return False
        _blocked(results[name], blocker, results[blocker])
        return True

    def _exit_code(self, outcome: Outcome) -> int:
        if outcome.interrupted_by:
            return int(ExitCode.INTERRUPTED if outcome.interrupted_by == 2 else ExitCode.TERMINATED)
        codes = {r.exit_code for r in outcome.results}
        for code in _EXIT_PRIORITY:
            if code in codes:
                return int(code)
        return 0

    def _lifecycle(self, trigger: TriggerSpec, result: TriggerResult) -> Steps:
        return TriggerLifecycle(
            trigger,
            result,
            context=self.context,
            platform_of=self.platform,
            clock=self.clock,
            console=self.console,
            environ=self.environ,
            dry_run=self.options.dry_run,
            force_new=self.options.force_new,
        ).steps()


class _Driver:
    """Steps lifecycles on the start workers and hands their waits to the plan's waiter."""

    def __init__(self, pool: ThreadPoolExecutor, waiter: PlanWaiter) -> None:
        self.pool, self.waiter = pool, waiter
        self.finished: queue.SimpleQueue[_Finished] = queue.SimpleQueue()

    def start(self, task: _Task) -> None:
        self.pool.submit(self._advance, task, None, None)

    def _advance(self, task: _Task, value: object, error: BaseException | None) -> None:
        try:
            if error is not None:
                spec = task.context.run(task.steps.throw, error)
            else:
                spec = task.context.run(task.steps.send, value)
        except StopIteration:
            self.finished.put((task.name, None))
            return
        except BaseException as exc:  # the lifecycle reports its own errors; this is a bug past them
            self.finished.put((task.name, exc))
            return
        self.waiter.add(spec, lambda status, failure: self._resume(task, status, failure))

    def _resume(self, task: _Task, value: object, error: BaseException | None) -> None:
        self.pool.submit(self._advance, task, value, error)


def _blocked(result: TriggerResult, blocker: str, blocker_result: TriggerResult) -> None:
    if blocker_result.status in SKIPPED_STATUSES:
        result.decision, result.status = Decision.SKIPPED, Status.SKIPPED
        result.reason = f"skipped because '{blocker}' was skipped ({blocker_result.reason})"
    else:
        _not_started(result, f"not started because '{blocker}' {blocker_result.status}")


def _not_started(result: TriggerResult, reason: str) -> None:
    result.decision, result.status = Decision.NOT_STARTED, Status.NOT_STARTED
    result.reason = reason
