"""What a trigger's lifecycle yields when it has to wait, so waiting holds no thread.

A lifecycle is a generator: it yields `WaitFor` (resumed with the run's final status) or `Pause`
(resumed with None), and the plan's waiter resumes it, or throws WaitTimeout, Interrupted or the
platform's error into it at the point it waited.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from trigger_schedule.platforms.base import Platform, RunRef, RunStatus


@dataclass(frozen=True)
class WaitFor:
    """Wait for a run to end."""

    platform: Platform
    run: RunRef
    job: str
    deadline: float
    started: float  # when the trigger began, for the elapsed time in progress lines
    name: str  # how progress and log lines name the trigger
    logs: bool
    poll_interval: float
    poll_max_interval: float
    on_status: Callable[[RunStatus], None] | None = None


@dataclass(frozen=True)
class Pause:
    """Sleep, ended early by an interrupt (a delay, or a wait for a window to open)."""

    seconds: float


Suspension = WaitFor | Pause
# A lifecycle, or a part of one; what it receives at a `yield` is the final RunStatus for WaitFor, None for Pause.
Steps = Generator[Suspension, object, None]
Resume = Callable[["RunStatus | None", "BaseException | None"], None]
