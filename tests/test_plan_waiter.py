"""One waiter for a whole plan, against the real generic server: many runs waited for by a few threads,
read in batches where the server can, one at a time where it cannot, with timeouts and interrupts intact."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from cli_runner import TOKEN, start_cli
from servers.harness import GenericScheduler
from test_runner import run_plan
from trigger_schedule.clock import FakeClock, SystemClock
from trigger_schedule.plan_runner import START_WORKERS
from trigger_schedule.plan_waiter import POLL_WORKERS, STREAM_SLOTS

N = 100


def many(count: int, job: str, **trigger: Any) -> list[dict[str, Any]]:
    fast = {"poll-interval": "200ms", "poll-max-interval": "1s"}
    return [{"name": f"t{i}", "job": job, **fast, **trigger} for i in range(count)]


@contextmanager
def peak_threads() -> Iterator[list[int]]:
    """The most threads alive at once while the block runs, sampled every 20 ms."""
    peak, stop = [threading.active_count()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], threading.active_count())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join(5)


def test_a_hundred_runs_in_flight_are_waited_for_by_a_few_threads_in_batches(generic_server: GenericScheduler) -> None:
    generic_server.define_job("two-seconds", "success", 2.0)
    with peak_threads() as peak:
        outcome, _ = run_plan(generic_server, many(N, "two-seconds"), **{"max-parallel": N})
    assert outcome.exit_code == 0
    assert [r.status for r in outcome.results] == ["succeeded"] * N
    # Before, each waiting run held a thread: a hundred in flight meant a hundred threads.
    assert peak[0] <= START_WORKERS + POLL_WORKERS + STREAM_SLOTS + 8 < N
    batches = generic_server.requests("batch-status")
    assert batches, "the server has the batch endpoint, so the waiter uses it"
    per_run = generic_server.requests("status")
    # The runs beyond the stream slots are read only in batches (a run missing from an answer is read alone).
    assert len({r["path"] for r in per_run}) <= STREAM_SLOTS + 2
    asked = {run_id for r in batches for run_id in r["query"]["ids"].split(",")}
    assert len(asked) >= N - STREAM_SLOTS


def test_a_server_without_batch_status_is_read_one_run_at_a_time(generic_server: GenericScheduler) -> None:
    generic_server.configure(batch_status=False, long_poll=False)
    outcome, _ = run_plan(generic_server, many(20, "ok"), **{"max-parallel": 20})
    assert outcome.exit_code == 0
    assert all(r.status == "succeeded" for r in outcome.results)
    assert len(generic_server.requests("find")) >= 1  # the batch request, answered as by an older server
    status_paths = {r["path"] for r in generic_server.requests("status")}
    assert len(status_paths) == 20  # every run read on its own from then on


def test_batched_runs_keep_their_own_deadlines_and_cancel_on_timeout(generic_server: GenericScheduler) -> None:
    triggers = many(12, "slow", timeout="2s", **{"on-timeout": "cancel"})
    triggers.append({"name": "quick", "job": "ok", "poll-interval": "200ms"})
    outcome, _ = run_plan(generic_server, triggers, **{"max-parallel": 13})
    assert outcome.exit_code == 6
    by_name = {r.name: r for r in outcome.results}
    assert by_name["quick"].status == "succeeded"
    timed_out = [r for r in outcome.results if r.name != "quick"]
    assert {r.status for r in timed_out} == {"timed-out"}
    assert all(r.duration_s is not None and 1.9 <= r.duration_s < 5 for r in timed_out)
    assert len(generic_server.requests("cancel")) == 12


def test_max_parallel_still_bounds_the_runs_in_flight(generic_server: GenericScheduler) -> None:
    generic_server.define_job("half-second", "success", 0.5)
    outcome, _ = run_plan(generic_server, many(6, "half-second"), **{"max-parallel": 2})
    assert outcome.exit_code == 0
    windows = sorted((r.started_at or "", r.finished_at or "") for r in outcome.results)
    triggers = [r["time"] for r in generic_server.requests("trigger")]
    assert len(triggers) == 6
    # Three waves of two: the third and fifth runs start only after the first ones have ended.
    assert triggers[2] - triggers[0] >= 0.5 and triggers[4] - triggers[2] >= 0.5
    assert len(windows) == 6


def test_a_pause_ends_on_the_injected_clock_without_holding_a_start_worker(generic_server: GenericScheduler) -> None:
    clock = FakeClock()
    outcome, _ = run_plan(generic_server, [{"name": "later", "job": "instant", "delay": "2m"}], clock=clock)
    assert outcome.exit_code == 0
    assert clock.sleeps[0] == 120


def test_sigterm_cancels_every_run_the_plan_waits_for(generic_server: GenericScheduler, tmp_path: Path) -> None:
    plan = {
        "version": 1,
        "max-parallel": 30,
        "platforms": {"s": {"type": "generic", "url": generic_server.url}},
        "triggers": many(30, "slow"),
    }
    path = tmp_path / "plan.yml"
    path.write_text(yaml.safe_dump(plan))
    process = start_cli("run", "--config", str(path), env={"TRIGGER_SCHEDULE_TOKEN": TOKEN}, cwd=tmp_path)
    try:
        clock = SystemClock()
        started = clock.monotonic()
        while len(generic_server.requests("trigger")) < 30 and clock.monotonic() - started < 30:
            clock.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, output
    assert len(generic_server.requests("cancel")) == 30
