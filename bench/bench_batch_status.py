"""One poll round over many runs: `status_many` (one call) against `status` once per run, side by side.

Runs against the stand-ins of Argo and DolphinScheduler (tests/platforms/*/standin.py), which answer at once:
the numbers measure requests and the client's own cost per round, not a real server's latency.

For each platform, --runs runs are started (each lasts far longer than the bench), then --samples rounds of
each mode are timed, alternating: `batch` reads all runs with status_many (in batch_status_limit chunks), and
`per-run` reads each with status.

Usage: .venv/bin/python bench/bench_batch_status.py [--runs 50] [--samples 7]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.admin import admin_call  # noqa: E402
from servers.processes import serving  # noqa: E402
from trigger_schedule.clock import SystemClock  # noqa: E402
from trigger_schedule.http import HttpClient, HttpOptions  # noqa: E402
from trigger_schedule.platforms.argo import ArgoPlatform  # noqa: E402
from trigger_schedule.platforms.base import Platform, PlatformConfig, RunRef, TriggerRequest  # noqa: E402
from trigger_schedule.platforms.dolphinscheduler import DolphinSchedulerPlatform  # noqa: E402

ARGO_TOKEN = "bench-token"
DOLPHIN_TOKEN = "tok-3f9a-CANARY-71c2e"  # the stand-in's default token
PROJECT = "1234567890"


def _clients() -> tuple[HttpClient, SystemClock]:
    clock = SystemClock()
    return HttpClient(HttpOptions(max_attempts=1), clock), clock


def argo(url: str) -> Platform:
    admin_call(url, "POST", "tokens", {"valid": [ARGO_TOKEN]})
    admin_call(url, "POST", "templates", {"name": "long", "duration": 3600})
    http, clock = _clients()
    return ArgoPlatform(PlatformConfig(name="argo", type="argo", url=url, token=ARGO_TOKEN), http, clock)


def dolphin(url: str) -> Platform:
    admin_call(url, "POST", "definitions", {"code": "9001", "duration": 3600})
    config = PlatformConfig(
        name="ds", type="dolphinscheduler", url=f"{url}/dolphinscheduler", token=DOLPHIN_TOKEN,
        options={"project-code": PROJECT, "api-version": "3.3"},
    )  # fmt: skip
    http, clock = _clients()
    return DolphinSchedulerPlatform(config, http, clock)


def one_round(platform: Platform, runs: list[RunRef], batch: bool) -> tuple[float, int]:
    """Seconds and requests of reading every run once."""
    calls, started = platform.http.calls, time.perf_counter()
    if batch:
        limit = platform.batch_status_limit
        for index in range(0, len(runs), limit):
            chunk = runs[index : index + limit]
            found = platform.status_many(chunk, None)
            for run in chunk:
                if run.run_id not in found:
                    platform.status(run, None)
    else:
        for run in runs:
            platform.status(run, None)
    return time.perf_counter() - started, platform.http.calls - calls


def measure(name: str, platform: Platform, job: str, runs: int, samples: int) -> list[str]:
    started = [
        platform.trigger(TriggerRequest(job=job, params={}, idempotency_key=secrets.token_hex(8)), None).run
        for _ in range(runs)
    ]
    results: dict[bool, list[tuple[float, int]]] = {True: [], False: []}
    for _ in range(samples):
        for batch in (True, False):
            results[batch].append(one_round(platform, started, batch))
    rows = []
    for batch, label in ((True, "batch"), (False, "per-run")):
        seconds = statistics.median(s for s, _ in results[batch]) * 1000
        requests = statistics.median(r for _, r in results[batch])
        rows.append(f"| {name} | {label} | {runs} | {requests:.0f} | {seconds:.1f} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args()
    rows = ["| platform | mode | runs | requests per round (median) | ms per round (median) |", "|---|---|---|---|---|"]
    stands: list[tuple[str, str, Callable[[str], Platform], str]] = [
        ("argo", "tests/platforms/argo/standin.py", argo, "long"),
        ("dolphinscheduler", "tests/platforms/dolphinscheduler/standin.py", dolphin, "9001"),
    ]
    with tempfile.TemporaryDirectory() as work:
        for name, script, build, job in stands:
            port_file = Path(work) / f"{name}.port"
            args_ = ["--port-file", str(port_file)]
            with serving(ROOT / script, args_, [port_file], health_path="/_admin/requests") as ports:
                rows += measure(name, build(f"http://127.0.0.1:{ports[0]}"), job, args.runs, args.samples)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
