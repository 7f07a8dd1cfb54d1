"""Health gate: trigger only once the newly deployed application answers as healthy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trigger_schedule import jsonpointer
from trigger_schedule.backoff import Backoff
from trigger_schedule.clock import Clock
from trigger_schedule.errors import ExitCode, PlatformError, TriggerScheduleError
from trigger_schedule.http import HttpClient, HttpOptions, TlsOptions
from trigger_schedule.retrying import Retrying, stop_after_attempt, stop_without_wait, wait_backoff, wait_within

# A gate that never opens must still end: this bounds the checks on top of its timeout.
MAX_CHECKS = 10_000


class GateFailed(TriggerScheduleError):
    exit_code = ExitCode.GATE_FAILED


@dataclass(frozen=True)
class Gate:
    url: str
    expect_status: tuple[int, ...] = (200,)
    json_pointer: str | None = None
    expect_value: Any = None
    interval: float = 5.0
    timeout: float = 300.0
    headers: Mapping[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None


def wait_until_healthy(gate: Gate, clock: Clock, progress: Any = None) -> str:
    """Poll the health URL; return why it passed, raise GateFailed when it did not in time."""
    http = HttpClient(
        HttpOptions(
            connect_timeout=5.0,
            read_timeout=10.0,
            max_attempts=1,
            tls=TlsOptions(ca_bundle=gate.ca_bundle),
            headers=dict(gate.headers),
        ),
        clock,
    )
    started = clock.monotonic()
    deadline = started + gate.timeout
    last = "no answer yet"
    backoff = Backoff(initial=min(1.0, gate.interval), cap=gate.interval, factor=2.0, jitter=False)
    retrying = Retrying(
        stop=stop_after_attempt(MAX_CHECKS) | stop_without_wait(),  # the wait is 0 at the deadline
        wait=wait_within(wait_backoff(backoff), deadline, clock),
        clock=clock,
    )
    for state in retrying:
        healthy, last = _check(http, gate)
        if healthy:
            return f"health gate passed after {state.attempt} check(s): {last}"
        if progress:
            progress(f"waiting for {gate.url} to be healthy ({last})", clock.monotonic() - started)
    raise GateFailed(
        f"health gate: {gate.url} was not healthy within {gate.timeout:g}s (last: {last}); nothing was triggered",
        hint="check the deployment's health, or raise gate.timeout",
    )


def _check(http: HttpClient, gate: Gate) -> tuple[bool, str]:
    try:
        response = http.request("GET", gate.url, what="health gate", raise_for_status=False)
    except PlatformError as exc:
        return False, exc.message.split(": ", 1)[-1]
    if response.status_code not in gate.expect_status:
        return False, f"HTTP {response.status_code}"
    if gate.json_pointer is None:
        return True, f"HTTP {response.status_code}"
    try:
        value = jsonpointer.resolve(response.json(), gate.json_pointer)
    except ValueError:
        return False, "the answer is not JSON"
    if gate.expect_value is not None and value != gate.expect_value:
        return False, f"{gate.json_pointer} is {value!r}, expected {gate.expect_value!r}"
    return True, f"{gate.json_pointer} is {value!r}"
