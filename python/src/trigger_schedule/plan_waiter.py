"""One waiter for every run of a plan: due polls, pushed streams, pauses and deadlines, on one thread.

Suspended lifecycles register what they wait for; the waiter's thread sleeps until the next poll,
pause end or deadline is due, sends the reads to a small pool of request workers (one `status_many`
call per batch where the platform reads many runs at once), and resumes each lifecycle through its
`resume` callback. A run costs an entry in a list, not a thread, so a plan can wait for thousands.

Pushed statuses (a platform's stream or long-poll) are followed for up to STREAM_SLOTS runs at
once, each on a worker of its own; runs beyond that are polled. Every request is bounded by its
run's deadline, and at most POLL_WORKERS requests are in flight for the whole plan.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from trigger_schedule.backoff import Backoff
from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.errors import AuthError, PlatformError, RejectedError, WaitTimeout
from trigger_schedule.http import bounded_by
from trigger_schedule.platforms.base import Platform, RunStatus
from trigger_schedule.poll_schedule import PollSchedule
from trigger_schedule.suspension import Pause, Resume, Steps, Suspension, WaitFor
from trigger_schedule.waiting import LogStreamer, follow_stream, timeout_error

# The request budget of a plan: status and log reads in flight at once, across all its runs.
POLL_WORKERS = 16
# Runs followed through a pushed stream at once; each holds a worker while it streams.
STREAM_SLOTS = 8
# Guards on top of the deadlines, so no bug in a clock can make a wait endless.
MAX_POLLS = 100_000
MAX_ROUNDS = 100_000_000
# While nothing is due (every read in flight), how long one idle wait lasts before looking again.
IDLE_WAIT_S = 1.0


@dataclass(eq=False)
class _Entry:
    """One suspended lifecycle: what it waits for, and how far the wait has come."""

    spec: Suspension
    resume: Resume
    due: float
    added: float = 0.0
    schedule: PollSchedule | None = None
    streamer: LogStreamer | None = None
    last: RunStatus | None = None
    polls: int = 0
    errors: int = 0
    busy: bool = False  # a read or a stream is in flight
    done: bool = False

    @property
    def deadline(self) -> float | None:
        return self.spec.deadline if isinstance(self.spec, WaitFor) else None

    @property
    def wait(self) -> WaitFor:
        assert isinstance(self.spec, WaitFor), "a pause is never read"
        return self.spec


class PlanWaiter:
    def __init__(self, clock: Clock, console: Console) -> None:
        self.clock, self.console = clock, console
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._streams = 0
        self._no_push: set[int] = set()  # platforms whose runs have no pushed stream
        self._batches: dict[int, int] = {}  # batch reads in flight, by platform
        self._members: dict[int, int] = {}  # runs waited for, by platform
        self._shared: dict[tuple[int, str, float, float], PollSchedule] = {}
        self._expected: dict[tuple[int, str], float | None] = {}
        self._requests = ThreadPoolExecutor(max_workers=POLL_WORKERS, thread_name_prefix="poll")
        self._streamers = ThreadPoolExecutor(max_workers=STREAM_SLOTS, thread_name_prefix="stream")
        self._thread = threading.Thread(target=self._loop, name="plan-waiter", daemon=True)
        clock.cancellation.listen(self._wake)
        self._thread.start()

    # -- the lifecycles' side ---------------------------------------------------------------

    def add(self, spec: Suspension, resume: Resume) -> None:
        """Wait for `spec` and call `resume(status, None)` or `resume(None, error)` once, from a worker."""
        now = self.clock.monotonic()
        if isinstance(spec, Pause):
            entry = _Entry(spec, resume, due=now + max(0.0, spec.seconds))
        else:
            entry = _Entry(spec, resume, due=now, added=now)
            if spec.logs:
                title = f"{spec.name} logs (run {spec.run.run_id})"
                entry.streamer = LogStreamer(spec.platform, spec.run, self.console, title, self.clock)
        with self._lock:
            stream = isinstance(spec, WaitFor) and self._takes_stream(spec.platform)
            if isinstance(spec, WaitFor) and not stream:
                entry.due = self._joining_read(spec.platform, now)
            self._entries.append(entry)
            if isinstance(spec, WaitFor):
                self._members[id(spec.platform)] = self._members.get(id(spec.platform), 0) + 1
            entry.busy = stream
        if stream:
            self._streamers.submit(self._stream, entry)
        self._wake.set()

    def close(self, abandon: bool = False) -> None:
        """Stop once nothing is waited for (every lifecycle has ended by then); `abandon`: at once, leaving
        what is still waited for (the plan itself failed)."""
        if abandon:
            with self._lock:
                self._entries.clear()
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._requests.shutdown(wait=True, cancel_futures=True)
        self._streamers.shutdown(wait=True, cancel_futures=True)
        self.clock.cancellation.unlisten(self._wake)

    def _schedule(self, spec: WaitFor, now: float) -> PollSchedule:
        """The run's poll schedule. Runs read in batches share one per job and pace: one batch read
        advances it once, so the plan reads the platform at one run's pace."""
        key = (id(spec.platform), spec.job)
        if key not in self._expected:  # once per job and plan: the history does not change while we wait
            self._expected[key] = self._expected_duration(spec)
        backoff = Backoff(initial=spec.poll_interval, cap=spec.poll_max_interval, factor=1.5)
        if spec.platform.batch_status_limit <= 0:
            return PollSchedule(backoff, started=now, expected=self._expected[key])
        shared = (*key, spec.poll_interval, spec.poll_max_interval)
        if shared not in self._shared:
            self._shared[shared] = PollSchedule(backoff, started=now, expected=self._expected[key])
        return self._shared[shared]

    def _expected_duration(self, spec: WaitFor) -> float | None:
        try:
            with bounded_by(spec.deadline):
                return spec.platform.expected_duration(spec.job, spec.deadline)
        except PlatformError as exc:
            self.console.debug(f"[{spec.name}] no expected duration for {spec.job}: {exc.message}")
            return None

    def _joining_read(self, platform: Platform, now: float) -> float:
        """When a new run is first read: at once, or, where the platform reads in batches, with the next
        batch of its other runs, so each new run does not cause a read of all. Holds the lock."""
        if platform.batch_status_limit <= 0:
            return now
        mates = (e for e in self._entries if isinstance(e.spec, WaitFor) and e.spec.platform is platform)
        return min((e.due for e in mates if not e.busy), default=now)

    def _takes_stream(self, platform: Platform) -> bool:
        """Whether a new run of `platform` follows a pushed stream. Holds the lock."""
        if id(platform) in self._no_push or self._streams >= STREAM_SLOTS:
            return False
        if platform.batch_status_limit > 0 and self._members.get(id(platform), 0):
            return False  # another run of it is waited for: one batch read serves them both
        self._streams += 1
        return True

    # -- the waiter's thread ----------------------------------------------------------------

    def _loop(self) -> None:
        for _ in range(MAX_ROUNDS):
            self._wake.clear()
            with self._lock:
                if self._closed and not self._entries:
                    return
                now = self.clock.monotonic()
                ended = self._take_ended(now)
                due, held = self._take_due(now)
                for entry in due:
                    entry.busy = True
                upcoming = self._next_moment(held)
            for entry, error in ended:
                entry.resume(None, error)
            if due:
                self._dispatch(due)
            elif not ended:
                self._sleep(now, upcoming)

    def _remove(self, entry: _Entry) -> None:
        """Holds the lock."""
        entry.done = True
        self._entries.remove(entry)
        if isinstance(entry.spec, WaitFor):
            self._members[id(entry.spec.platform)] -= 1

    def _take_due(self, now: float) -> tuple[list[_Entry], set[int]]:
        """Runs to read now, and the platforms whose runs wait for a batch in flight. Holds the lock.

        Where a platform reads many runs at once, its other runs ride along with the first one due, and
        no more batches are in flight than its runs fill: the plan reads it at one run's pace, not at the
        sum of all, and a run that arrives while a batch is out joins the next one.
        """
        idle = [e for e in self._entries if not e.busy and isinstance(e.spec, WaitFor)]
        due = [e for e in idle if e.due <= now and e.wait.platform.batch_status_limit <= 0]
        held: set[int] = set()
        for key, platform in {id(e.wait.platform): e.wait.platform for e in idle}.items():
            if platform.batch_status_limit <= 0 or not any(e.due <= now for e in idle if e.wait.platform is platform):
                continue
            if self._batches.get(key, 0) >= -(-self._members.get(key, 0) // platform.batch_status_limit):
                held.add(key)
            else:
                due += [e for e in idle if e.wait.platform is platform]
        return due, held

    def _take_ended(self, now: float) -> list[tuple[_Entry, BaseException | None]]:
        """Entries that end now without a read: an interrupt, a deadline, a pause over. Holds the lock."""
        ended: list[tuple[_Entry, BaseException | None]] = []
        interrupted = self.clock.cancellation.is_set()
        for entry in list(self._entries):
            error: BaseException | None
            if interrupted:
                error = self.clock.cancellation.interrupted()
            elif entry.deadline is not None and now >= entry.deadline:
                error = self._timeout(entry)
            elif isinstance(entry.spec, Pause) and now >= entry.due:
                error = None
            else:
                continue
            self._remove(entry)
            ended.append((entry, error))
        return ended

    def _next_moment(self, held: set[int]) -> float | None:
        """The earliest due read, pause end or deadline among entries not in flight (a read in flight is
        bounded by its own deadline, and reschedules or ends the entry when it returns; so does a batch
        that `held` runs wait for). Holds the lock."""
        idle = [e for e in self._entries if not e.busy and not (e.deadline and id(e.wait.platform) in held)]
        return min((min(e.due, e.deadline or e.due) for e in idle), default=None)

    def _sleep(self, now: float, upcoming: float | None) -> None:
        if upcoming is None:
            self._wake.wait(IDLE_WAIT_S)
        elif upcoming > now:
            self.clock.sleep(upcoming - now, self._wake)

    def _timeout(self, entry: _Entry) -> WaitTimeout:
        return timeout_error(entry.wait.run, entry.last, entry.errors)

    # -- reads ------------------------------------------------------------------------------

    def _dispatch(self, due: list[_Entry]) -> None:
        groups: dict[int, list[_Entry]] = defaultdict(list)
        for entry in due:
            groups[id(entry.wait.platform)].append(entry)
        for entries in groups.values():
            platform = entries[0].wait.platform
            size = platform.batch_status_limit
            if size > 0 and len(entries) > 1:
                for start in range(0, len(entries), size):
                    with self._lock:
                        self._batches[id(platform)] = self._batches.get(id(platform), 0) + 1
                    self._requests.submit(self._read_batch, platform, entries[start : start + size])
            else:
                for entry in entries:
                    self._requests.submit(self._read_one, entry)

    def _read_one(self, entry: _Entry) -> None:
        spec = entry.wait
        started = self.clock.monotonic()
        try:
            with bounded_by(spec.deadline):
                status = spec.platform.status(spec.run, spec.deadline)
        except PlatformError as exc:
            self._failed_read(entry, exc)
        except Exception as exc:  # a bug in a plug-in: the lifecycle reports it as an internal error
            self._finish(entry, None, exc)
        else:
            self._observe(entry, status, started)

    def _read_batch(self, platform: Platform, entries: list[_Entry]) -> None:
        try:
            self._read_many(platform, entries)
        finally:
            with self._lock:
                self._batches[id(platform)] -= 1
            self._wake.set()

    def _read_many(self, platform: Platform, entries: list[_Entry]) -> None:
        specs = [e.wait for e in entries]
        deadline = max(spec.deadline for spec in specs)
        started = self.clock.monotonic()
        try:
            with bounded_by(deadline):
                statuses = platform.status_many([spec.run for spec in specs], deadline)
        except PlatformError as exc:
            waits: dict[int, float] = {}
            for entry in entries:
                self._failed_read(entry, exc, waits)
            return
        except Exception as exc:  # a bug in a plug-in: every lifecycle in the batch reports it
            for entry in entries:
                self._finish(entry, None, exc)
            return
        waits = {}
        for entry, spec in zip(entries, specs):
            status = statuses.get(spec.run.run_id)
            if status is None:  # not in the answer (e.g. just created): read on its own
                self._read_one(entry)
            else:
                self._observe(entry, status, started, waits)

    def _failed_read(self, entry: _Entry, exc: PlatformError, waits: dict[int, float] | None = None) -> None:
        if isinstance(exc, AuthError | RejectedError):
            self._finish(entry, None, exc)
            return
        # The scheduler blinked (restart, proxy hiccup): keep waiting while the deadline allows.
        entry.errors += 1
        self.console.warn(f"[{entry.wait.name}] status check failed ({exc.message}); still waiting")
        self._reschedule(entry, self._next_wait(entry, None, waits), waits)

    def _observe(self, entry: _Entry, status: RunStatus, started: float, waits: dict[int, float] | None = None) -> None:
        """Act on a status read at `started`; `waits`: the waits chosen so far for the rest of its batch."""
        if entry.done:
            return  # ended meanwhile (deadline or interrupt): the late answer changes nothing
        self._seen(entry, status)
        if status.state.terminal:
            self._finish(entry, status, None)
            return
        hint = status.poll_after
        now = self.clock.monotonic()
        if hint == 0 and now <= started:
            hint = None  # a held read that took no time on this clock (an injected one) cannot pace the wait
        if hint == 0:
            # Held until something changed: read again at once; a batch no sooner than poll-interval after
            # the last, so runs that end together are read together.
            wait = 0.0 if waits is None else max(0.0, entry.wait.poll_interval - (now - started))
            self._reschedule(entry, wait, waits)
        else:
            self._reschedule(entry, self._next_wait(entry, hint, waits), waits)

    def _next_wait(self, entry: _Entry, hint: float | None, waits: dict[int, float] | None) -> float:
        """The entry's next wait; in a batch, a shared schedule advances once for all its runs."""
        if entry.schedule is None:  # made at the first read, so a run that only streams never asks for history
            entry.schedule = self._schedule(entry.wait, entry.added)
        key = id(entry.schedule)
        if waits is not None and key in waits:
            return waits[key]
        wait = entry.schedule.next_wait(self.clock.monotonic(), hint)
        if waits is not None:
            waits[key] = wait
        return wait

    def _seen(self, entry: _Entry, status: RunStatus) -> None:
        spec = entry.wait
        entry.last = status
        if spec.on_status:
            spec.on_status(status)
        now = self.clock.monotonic()
        self.console.progress(spec.name, status.raw, now - spec.started, now)
        if entry.streamer:
            with bounded_by(spec.deadline):
                entry.streamer.pump(final=status.state.terminal)

    def _reschedule(self, entry: _Entry, wait: float, batch: dict[int, float] | None = None) -> None:
        """Due again after `wait`; the waiter is woken for it, except within a batch, which wakes it once."""
        entry.polls += 1
        if entry.polls >= MAX_POLLS:
            self._finish(entry, None, self._timeout(entry))
            return
        with self._lock:
            entry.due = self.clock.monotonic() + wait
            entry.busy = False
        if batch is None:
            self._wake.set()

    def _finish(self, entry: _Entry, status: RunStatus | None, error: BaseException | None) -> None:
        with self._lock:
            if entry.done:
                return
            self._remove(entry)
        self._wake.set()
        entry.resume(status, error)

    # -- pushed statuses --------------------------------------------------------------------

    def _has_batch_mates(self, entry: _Entry) -> bool:
        """Whether other runs of the entry's platform are waited for, and one batch read could serve all."""
        platform = entry.wait.platform
        return platform.batch_status_limit > 0 and self._members.get(id(platform), 0) > 1

    def _stream(self, entry: _Entry) -> None:
        spec = entry.wait
        try:
            final = follow_stream(
                spec.platform,
                spec.run,
                self.clock,
                spec.deadline,
                self.console,
                spec.name,
                lambda status: self._seen(entry, status),
                stop=lambda: entry.done or self._has_batch_mates(entry),
                no_stream=lambda: self._no_push.add(id(spec.platform)),
            )
        except (AuthError, RejectedError) as exc:
            self._finish(entry, None, exc)
            return
        except Exception as exc:  # a bug in a plug-in's stream: the lifecycle reports it
            self._finish(entry, None, exc)
            return
        finally:
            with self._lock:
                self._streams -= 1
        if final is not None and final.state.terminal:
            self._finish(entry, final, None)
            return
        with self._lock:  # the stream ended early (or there is none): polling takes over
            entry.due, entry.busy = self.clock.monotonic(), False
        self._wake.set()


def run_alone(steps: Steps, clock: Clock, console: Console) -> None:
    """Drive one lifecycle to its end on this thread, with a waiter of its own."""
    resumed: queue.SimpleQueue[tuple[RunStatus | None, BaseException | None]] = queue.SimpleQueue()
    waiter = PlanWaiter(clock, console)
    try:
        value: RunStatus | None = None
        error: BaseException | None = None
        for _ in range(MAX_ROUNDS):
            try:
                spec = steps.throw(error) if error else steps.send(value)
            except StopIteration:
                return
            waiter.add(spec, lambda status, failure: resumed.put((status, failure)))
            value, error = resumed.get()  # the waiter resumes every entry: by its end, deadline or interrupt
    finally:
        waiter.close()
