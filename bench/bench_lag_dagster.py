"""Lag and request rate of waiting on a Dagster run: trigger-schedule against fixed-interval polling.

Lag: from the run's end on the server (`Run.endTime`) to the waiter returning (the CLI process
exiting, or the polling loop seeing the terminal state). Requests per waited minute: every GraphQL
request sent after the launch (status, logs, history), divided by the time from the run's
creation to the waiter returning.

Modes, each on the `slow` job of tests/platforms/dagster/defs.py sleeping --seconds:
  ts-events      the CLI as shipped: follows the run on the webserver's event subscription (websocket)
  ts-adaptive    the CLI with events and predictive-polling off: the core's polling, 1 s growing x1.5 to 15 s
  ts-predictive  the CLI with events off and predictive polling on (the job's earlier runs are the history)
  fixed-5s       launchRun, then runOrError every 5 s with requests (what peer tools do)
  fixed-10s      the same every 10 s

Needs scripts/tools/dagster.sh. Usage:
  .venv/bin/python bench/bench_lag_dagster.py [--runs 3] [--seconds 30] [--jitter 0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/platforms/dagster"))

from dagster_server import Dagster, start_dagster  # noqa: E402

LAUNCH = (
    "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
    "... on LaunchRunSuccess { run { runId } } } }"
)
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
MAX_WAIT_S = 600.0


def run_cli(server: Dagster, seconds: float, events: bool, predictive: bool, workdir: Path) -> tuple[str, float, int]:
    """One CLI run; (run id, exit wall time, requests sent after the launch)."""
    options = json.dumps({"location": server.location, "events": events, "predictive-polling": predictive})
    params = json.dumps({"ops": {"nap": {"config": {"seconds": seconds}}}})
    result_file = workdir / "result.json"
    command = [
        sys.executable,
        "-m",
        "trigger_schedule",
        "trigger",
        "--platform",
        "dagster",
        "--url",
        server.url,
        "--job",
        "slow",
        "--params",
        params,
        "--platform-options",
        options,
        "--force-new",
        "--debug",
        "--timeout",
        "10m",
        "--result-file",
        str(result_file),
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=MAX_WAIT_S)
    exited = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"the CLI exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    sent = re.findall(r"-> POST \S+ .*?query\W+(?:mutation|query) (\w+)", done.stderr)
    after_launch = sent[sent.index("TriggerScheduleLaunch") + 1 :]
    (entry,) = json.loads(result_file.read_text())["triggers"]
    return entry["run_id"], exited, len(after_launch)


def run_fixed(server: Dagster, seconds: float, interval: float) -> tuple[str, float, int]:
    """What a fixed-interval poller does: launch, then poll runOrError every `interval` seconds."""
    session = requests.Session()
    variables = {
        "p": {
            "selector": {
                "repositoryLocationName": server.location,
                "repositoryName": "__repository__",
                "jobName": "slow",
            },
            "runConfigData": {"ops": {"nap": {"config": {"seconds": seconds}}}},
        }
    }
    answer = session.post(server.url + "/graphql", json={"query": LAUNCH, "variables": variables}, timeout=30)
    run_id = answer.json()["data"]["launchRun"]["run"]["runId"]
    calls = 0
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(interval)
        calls += 1
        status = session.post(
            server.url + "/graphql", json={"query": STATUS, "variables": {"id": run_id}}, timeout=30
        ).json()["data"]["runOrError"]["status"]
        if status in TERMINAL:
            return run_id, time.time(), calls
    raise RuntimeError(f"run {run_id} did not end in {MAX_WAIT_S:.0f} s")


def measure(server: Dagster, waiter: Callable[[Dagster], tuple[str, float, int]]) -> dict[str, float]:
    run_id, exited, calls = waiter(server)
    run = server.graphql(
        "query($id: ID!) { runOrError(runId: $id) { ... on Run { status creationTime endTime } } }", {"id": run_id}
    )["runOrError"]
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"run {run_id} ended {run['status']}")
    waited_min = (exited - run["creationTime"]) / 60
    return {"lag": exited - run["endTime"], "calls_per_min": calls / waited_min, "waited_s": waited_min * 60}


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (the maximum for fewer than 20 samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the job sleeps (default 30)")
    parser.add_argument(
        "--jitter", type=float, default=0.0, help="add a random 0..JITTER s to each run's sleep (default 0)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lag-dagster-"))
    rng = random.Random(7)  # the same sequence of durations on every bench run

    def seconds() -> float:
        return round(args.seconds + rng.uniform(0, args.jitter), 2)

    modes: dict[str, Callable[[Dagster], tuple[str, float, int]]] = {
        "ts-events": lambda s: run_cli(s, seconds(), True, False, workdir),
        "ts-adaptive": lambda s: run_cli(s, seconds(), False, False, workdir),
        "fixed-5s": lambda s: run_fixed(s, seconds(), 5.0),
        "fixed-10s": lambda s: run_fixed(s, seconds(), 10.0),
        # Last, so the earlier runs of the same job are its history.
        "ts-predictive": lambda s: run_cli(s, seconds(), False, True, workdir),
    }
    server = start_dagster()
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
    try:
        for name, waiter in modes.items():
            for index in range(args.runs):
                sample = measure(server, waiter)
                samples[name].append(sample)
                print(f"{name} #{index + 1}: lag {sample['lag']:.2f} s, {sample['calls_per_min']:.1f} calls/min")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\njob sleeps {args.seconds:.0f} s + 0..{args.jitter:.0f} s; {args.runs} runs per mode\n")
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
    if args.json:
        args.json.write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
