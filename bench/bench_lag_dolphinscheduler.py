"""Lag and request rate of waiting on a DolphinScheduler instance: trigger-schedule against fixed-interval polling.

No DolphinScheduler server can be installed here (docs/platforms/dolphinscheduler.md says why), so this runs
against the stand-in api-server (tests/platforms/dolphinscheduler/standin.py), which answers at once: the
numbers measure the waiting policy, not a real server's latency.

Lag: from the instance's end on the server to the waiter returning (the CLI process exiting, or the polling
loop seeing the terminal state). Requests per waited minute: every api-server request sent after the start
(status, task list, logs), divided by the time from the instance's creation to the waiter returning.

Modes, each on a workflow that runs --seconds:
  ts-adaptive   the CLI as shipped: the core's polling, 1 s growing x1.5 to 15 s, logs streamed
  ts-max-2s     the CLI with --poll-max-interval 2s
  ts-no-logs    the CLI with --no-logs: status requests only
  fixed-5s      start-workflow-instance, then GET workflow-instances/{id} every 5 s (what peer tools do)
  fixed-10s     the same every 10 s

Usage: .venv/bin/python bench/bench_lag_dolphinscheduler.py [--runs 3] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests/platforms/dolphinscheduler"))

from dolphin_standin_client import PROJECT, Dolphin  # noqa: E402
from servers.processes import serving  # noqa: E402
from standin import DEFAULT_TOKEN  # noqa: E402

STANDIN = ROOT / "tests/platforms/dolphinscheduler/standin.py"
TERMINAL = {"SUCCESS", "FAILURE", "STOP", "PAUSE"}
MAX_WAIT_S = 600.0
Waiter = Callable[[Dolphin, str], float]


def run_cli(ds: Dolphin, job: str, extra: list[str], workdir: Path) -> float:
    """One CLI run as a CI job would make it; the wall time it exited."""
    command = [
        sys.executable, "-m", "trigger_schedule", "trigger", "--platform", "dolphinscheduler", "--url", ds.api,
        "--job", job, "--platform-options", json.dumps({"project-code": PROJECT}), "--force-new",
        "--timeout", "10m", *extra,
    ]  # fmt: skip
    env = {**os.environ, "TRIGGER_SCHEDULE_TOKEN": DEFAULT_TOKEN}
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=MAX_WAIT_S, env=env)
    exited = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"the CLI exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return exited


def run_fixed(ds: Dolphin, job: str, interval: float) -> float:
    session = requests.Session()
    session.headers["token"] = DEFAULT_TOKEN
    base = f"{ds.api}/projects/{PROJECT}"
    form = {"workflowDefinitionCode": job, "scheduleTime": "", "failureStrategy": "END", "warningType": "NONE"}
    (instance,) = session.post(f"{base}/executors/start-workflow-instance", data=form, timeout=30).json()["data"]
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(interval)
        state = session.get(f"{base}/workflow-instances/{instance}", timeout=30).json()["data"]["state"]
        if state in TERMINAL:
            return time.time()
    raise RuntimeError(f"instance {instance} did not end in {MAX_WAIT_S:.0f} s")


def measure(ds: Dolphin, job: str, seconds: float, waiter: Waiter) -> dict[str, float]:
    ds.admin("POST", "reset", {"api_version": "3.3"})
    ds.definition(job, duration=seconds, logs=[f"line {n}" for n in range(20)])
    exited = waiter(ds, job)
    (instance,) = ds.instances()
    if instance["state"] != "SUCCESS":
        raise RuntimeError(f"instance {instance['id']} ended {instance['state']}")
    started = next(r["at"] for r in ds.requests() if "/executors/start-" in r["path"])
    calls = sum(1 for r in ds.requests() if r["path"].startswith("/dolphinscheduler/") and r["at"] > started)
    waited_min = (exited - instance["created_at"]) / 60
    return {"lag": exited - instance["ended_at"], "calls_per_min": calls / waited_min, "waited_s": waited_min * 60}


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (the maximum for fewer than 20 samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the workflow runs (default 30)")
    parser.add_argument("--modes", help="comma-separated modes to run (default: all)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lag-dolphinscheduler-"))
    modes: dict[str, Waiter] = {
        "ts-adaptive": lambda ds, job: run_cli(ds, job, [], workdir),
        "ts-max-2s": lambda ds, job: run_cli(ds, job, ["--poll-max-interval", "2s"], workdir),
        "ts-no-logs": lambda ds, job: run_cli(ds, job, ["--no-logs"], workdir),
        "fixed-5s": lambda ds, job: run_fixed(ds, job, 5.0),
        "fixed-10s": lambda ds, job: run_fixed(ds, job, 10.0),
    }
    if args.modes:
        modes = {name: modes[name] for name in args.modes.split(",")}
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    port_file = workdir / "port"
    with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
        ds = Dolphin(f"http://127.0.0.1:{ports[0]}")
        for name, waiter in modes.items():
            for index in range(args.runs):
                sample = measure(ds, "8001", args.seconds, waiter)
                samples[name].append(sample)
                print(f"{name} #{index + 1}: lag {sample['lag']:.2f} s, {sample['calls_per_min']:.1f} calls/min")
    print(f"\nworkflow runs {args.seconds:.0f} s; {args.runs} runs per mode\n")
    print("| mode | lag median (s) | lag p95 (s) | requests per waited minute (median) | waited (s, median) |")
    print("|---|---|---|---|---|")
    for name, rows in samples.items():
        lags = [r["lag"] for r in rows]
        calls = [r["calls_per_min"] for r in rows]
        waited = [r["waited_s"] for r in rows]
        print(
            f"| {name} | {statistics.median(lags):.2f} | {p95(lags):.2f} | {statistics.median(calls):.1f} "
            f"| {statistics.median(waited):.1f} |"
        )


if __name__ == "__main__":
    main()
