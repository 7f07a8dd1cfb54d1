"""Lag and request rate of waiting on a PowerJob instance: trigger-schedule against fixed-interval polling.

Lag: from the instance's end on the server (`finishedTime` of /openApi/fetchInstanceInfo) to the waiter
returning (the CLI process exiting, or the polling loop seeing the terminal state). Requests per waited
minute: every request sent after /openApi/runJob (status, instance details, worker log), divided by the
time from the instance's creation (`expectedTriggerTime`) to the waiter returning.

Modes, each on the `nap` job of tests/platforms/powerjob (TriggerScheduleTestWorker$Nap) sleeping --seconds:
  ts-shipped   the CLI as shipped: polling 1 s growing x1.5 to 15 s, the instance's log streamed (4.x: up to
               6 s more at the end for the worker's last log lines)
  ts-no-logs   the same with --no-logs
  ts-2s        the CLI with --poll-max-interval 2s (logs streamed)
  fixed-5s     runJob, then fetchInstanceStatus every 5 s with requests (what peer tools do)
  fixed-10s    the same every 10 s

Needs scripts/tools/powerjob.sh. Usage:
  .venv/bin/python bench/bench_lag_powerjob.py [--runs 3] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
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
sys.path.insert(0, str(ROOT / "tests/platforms/powerjob"))

from powerjob_server import APP, PowerJob, start_powerjob  # noqa: E402

PASSWORD = "bench-password"
TERMINAL = {4, 5, 9, 10}
MAX_WAIT_S = 600.0
Waiter = Callable[[PowerJob], tuple[str, float, int]]


def run_cli(server: PowerJob, seconds: float, extra: list[str], workdir: Path) -> tuple[str, float, int]:
    """One CLI run; (instance id, exit wall time, requests sent after runJob)."""
    result_file = workdir / "result.json"
    command = [
        sys.executable, "-m", "trigger_schedule", "trigger", "--platform", "powerjob", "--url", server.url,
        "--job", "nap", "--param", f"seconds={seconds}", "--platform-options", json.dumps({"app": APP}),
        "--force-new", "--debug", "--timeout", "10m", "--result-file", str(result_file), *extra,
    ]  # fmt: skip
    env = {**os.environ, "TRIGGER_SCHEDULE_TOKEN": PASSWORD}
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=MAX_WAIT_S)
    exited = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"the CLI exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    sent = [line for line in done.stderr.splitlines() if "-> " in line and " http" in line]
    after_run = sent[next(i for i, line in enumerate(sent) if "/openApi/runJob" in line) + 1 :]
    (entry,) = json.loads(result_file.read_text())["triggers"]
    return str(entry["run_id"]), exited, len(after_run)


def run_fixed(server: PowerJob, seconds: float, interval: float) -> tuple[str, float, int]:
    """What a fixed-interval poller does: runJob, then fetchInstanceStatus every `interval` seconds."""
    session = requests.Session()

    def call(path: str, form: dict[str, object]) -> object:
        answer = session.post(f"{server.url}/openApi/{path}", data={"appId": server.app_id, **form}, timeout=30)
        return answer.json()["data"]

    params = json.dumps({"seconds": str(seconds)})
    instance_id = str(call("runJob", {"jobId": server.jobs["nap"], "instanceParams": params}))
    calls = 0
    deadline = time.monotonic() + MAX_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(interval)
        calls += 1
        if call("fetchInstanceStatus", {"instanceId": instance_id}) in TERMINAL:
            return instance_id, time.time(), calls
    raise RuntimeError(f"instance {instance_id} did not end in {MAX_WAIT_S:.0f} s")


def measure(server: PowerJob, waiter: Waiter) -> dict[str, float]:
    instance_id, exited, calls = waiter(server)
    record = server.instance(instance_id)
    if record["status"] != 5:
        raise RuntimeError(f"instance {instance_id} ended with status {record['status']}: {record.get('result')}")
    waited_min = (exited - record["expectedTriggerTime"] / 1000) / 60
    return {"lag": exited - record["finishedTime"] / 1000, "calls_per_min": calls / waited_min,
            "waited_s": waited_min * 60}  # fmt: skip


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (the maximum for fewer than 20 samples)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def report(samples: dict[str, list[dict[str, float]]], runs: int, seconds: float) -> None:
    print(f"\njob sleeps {seconds:.0f} s; {runs} runs per mode\n")
    print("| mode | lag median (s) | lag p95 (s) | requests per waited minute (median) | waited (s, median) |")
    print("|---|---|---|---|---|")
    for name, rows in samples.items():
        lags = [r["lag"] for r in rows]
        calls = [r["calls_per_min"] for r in rows]
        waited = [r["waited_s"] for r in rows]
        print(f"| {name} | {statistics.median(lags):.2f} | {p95(lags):.2f} | {statistics.median(calls):.1f} "
              f"| {statistics.median(waited):.1f} |")  # fmt: skip
    print("\nsamples, lag (s) / requests per waited minute:")
    for name, rows in samples.items():
        print(f"- {name}: " + ", ".join(f"{r['lag']:.2f}/{r['calls_per_min']:.1f}" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the job sleeps (default 30)")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-lag-powerjob-"))
    modes: dict[str, Waiter] = {
        "ts-shipped": lambda s: run_cli(s, args.seconds, [], workdir),
        "ts-no-logs": lambda s: run_cli(s, args.seconds, ["--no-logs"], workdir),
        "ts-2s": lambda s: run_cli(s, args.seconds, ["--poll-max-interval", "2s"], workdir),
        "fixed-5s": lambda s: run_fixed(s, args.seconds, 5.0),
        "fixed-10s": lambda s: run_fixed(s, args.seconds, 10.0),
    }
    started = time.monotonic()
    server = start_powerjob(PASSWORD)
    print(f"PowerJob server and worker ready in {time.monotonic() - started:.1f} s")
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
    report(samples, args.runs, args.seconds)
    if args.json:
        args.json.write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
