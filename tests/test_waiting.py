"""The wait loop's own rules, with an injected clock: a pushed status stream and how often logs are read."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from trigger_schedule.clock import FakeClock
from trigger_schedule.console import Console
from trigger_schedule.plan_waiter import run_alone
from trigger_schedule.platforms.base import (
    LogChunk,
    Platform,
    PlatformConfig,
    PreparedRequest,
    RunRef,
    RunState,
    RunStatus,
    TriggerOutcome,
    TriggerRequest,
)
from trigger_schedule.suspension import Steps, WaitFor


class StreamingPlatform(Platform):
    """Pushes a status every 0.5 s of clock time, like a server-side wait stream, and counts log reads."""

    type_name = "streaming-test"

    def __init__(self, clock: FakeClock, updates: int) -> None:
        super().__init__(
            PlatformConfig(name="t", type="streaming-test", url="http://127.0.0.1:9"),
            None,
            clock,
        )  # type: ignore[arg-type]
        self.fake_clock, self.updates, self.log_reads, self.polls = clock, updates, 0, 0

    def watch(self, run: RunRef, deadline: float) -> Iterator[RunStatus]:
        for i in range(self.updates):
            self.fake_clock.sleep(0.5)
            last = i == self.updates - 1
            yield RunStatus(
                RunState.SUCCEEDED if last else RunState.RUNNING,
                "success" if last else "running",
            )

    def logs(self, run: RunRef, cursor: Any) -> LogChunk:
        self.log_reads += 1
        return LogChunk(f"line {self.log_reads}\n", (cursor or 0) + 1)

    def status(self, run: RunRef, deadline: float | None) -> RunStatus:
        self.polls += 1
        return RunStatus(RunState.RUNNING, "running")

    def trigger(self, request: TriggerRequest, deadline: float | None) -> TriggerOutcome:
        raise NotImplementedError

    def prepare_trigger(self, request: TriggerRequest) -> PreparedRequest:
        raise NotImplementedError


def test_streamed_statuses_end_the_wait_and_logs_are_read_at_most_every_2s() -> None:
    clock = FakeClock()
    platform = StreamingPlatform(clock, updates=40)  # 20 s of pushed statuses
    out = io.StringIO()
    seen: list[object] = []

    def lifecycle() -> Steps:
        spec = WaitFor(
            platform,
            RunRef("r1"),
            "job",
            deadline=600,
            started=0,
            name="t",
            logs=True,
            poll_interval=1,
            poll_max_interval=15,
        )
        seen.append((yield spec))

    run_alone(lifecycle(), clock, Console("local", out=out, err=out, live=False))
    final = seen[0]
    assert isinstance(final, RunStatus)
    assert final.state is RunState.SUCCEEDED
    assert platform.polls == 0  # the stream alone decided it
    assert 10 <= platform.log_reads <= 12  # one per 2 s of a 20 s run, plus the final read
    assert f"line {platform.log_reads}" in out.getvalue()  # the last lines were read after the end
