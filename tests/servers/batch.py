"""The check every plug-in's batch status read passes: one call, the states `status` reads, unknown runs left out."""

from __future__ import annotations

from collections.abc import Callable

from trigger_schedule.platforms.base import Platform, RunRef, RunState


def check_status_many(
    platform: Platform,
    finished: list[tuple[RunRef, RunState]],
    running: RunRef,
    unknown: RunRef,
    calls: Callable[[], int],
) -> None:
    """`status_many` answers the finished and running runs in one call (`calls` counts what the server got), as
    `status` reads each, and leaves the unknown run out (the waiter reads it with `status`)."""
    asked = [run for run, _ in finished] + [running]
    before = calls()
    batch = platform.status_many([*asked, unknown], None)
    assert calls() - before == 1
    assert unknown.run_id not in batch
    assert [batch[run.run_id].state for run, _ in finished] == [state for _, state in finished]
    assert batch[running.run_id].state is RunState.RUNNING
    for run in asked:
        single = platform.status(run, None)
        assert (batch[run.run_id].state, batch[run.run_id].url) == (single.state, single.url), run.run_id
