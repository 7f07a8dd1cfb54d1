"""The generic contract's optional parts, negotiated: long-poll status requests, and a Retry-After poll hint.

Against the generic test scheduler, which holds a status request carrying `wait=` until the run's status differs
from `state=` (then marks the answer `Long-Poll`), or, switched off, answers at once as a server without it does.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_runner import run_cli
from servers.harness import GenericScheduler


def _trigger(server: GenericScheduler, job: str, tmp_path: Path, *flags: str) -> dict[str, object]:
    done = run_cli("trigger", "--platform", "generic", "--url", server.url, "--job", job, "--poll-interval", "100ms",
                   "--poll-max-interval", "500ms", "--no-logs", "--result-file", str(tmp_path / "r.json"), *flags,
                   timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads((tmp_path / "r.json").read_text())["triggers"][0]
    return result


def test_a_long_polling_server_is_asked_once_per_change(generic_server: GenericScheduler, tmp_path: Path) -> None:
    generic_server.define_job("two-seconds", "success", 2.0)
    assert _trigger(generic_server, "two-seconds", tmp_path)["status"] == "succeeded"
    status = generic_server.requests("status")
    assert all(r["query"].get("wait") == "5s" for r in status), [r["query"] for r in status]
    # running until the end: one held request per 5 s at most, instead of a poll every 100-500 ms
    assert 1 <= len(status) <= 3, [r["query"] for r in status]
    assert status[-1]["query"].get("state") in (None, "running", "queued")


def test_a_server_without_long_poll_is_polled_as_before(generic_server: GenericScheduler, tmp_path: Path) -> None:
    generic_server.configure(long_poll=False)
    generic_server.define_job("two-seconds", "success", 2.0)
    assert _trigger(generic_server, "two-seconds", tmp_path)["status"] == "succeeded"
    status = generic_server.requests("status")
    assert status[0]["query"].get("wait") == "5s"  # asked once, answered at once without Long-Poll
    assert all("wait" not in r["query"] for r in status[1:])  # then plain polling
    assert len(status) >= 4


def test_the_servers_retry_after_on_a_status_answer_spaces_the_polls(
    generic_server: GenericScheduler, tmp_path: Path
) -> None:
    generic_server.configure(long_poll=False, status_retry_after=1.5)
    generic_server.define_job("four-seconds", "success", 4.0)
    assert _trigger(generic_server, "four-seconds", tmp_path)["status"] == "succeeded"
    times = [r["time"] for r in generic_server.requests("status")][1:]  # after the long-poll probe, answered at once
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and min(gaps) >= 1.3, gaps  # not the 100-500 ms the poll interval flags alone would give
    assert len(times) <= 5


def test_long_poll_can_be_turned_off(generic_server: GenericScheduler, tmp_path: Path) -> None:
    generic_server.define_job("one-second", "success", 1.0)
    _trigger(generic_server, "one-second", tmp_path, "--platform-options", '{"long-poll": 0}')
    assert all("wait" not in r["query"] for r in generic_server.requests("status"))
