"""Benchmark: completion-detection lag and status calls with polling paced by the job's own history.

Against the Rundeck stand-in (tests/platforms/rundeck/standin.py, see bench_lag_rundeck.py for why a
stand-in) on 127.0.0.1, for a job of about 20 s and one of about 10 min. Each sample is a job of its own:

    with history   ten finished executions in the past (each D x U(0.95, 1.05)), then the CLI with its
                   defaults: it reads the median of the last ten and polls around it
    no history     the same job length with no past executions: the growing backoff (1 s to 15 s)

The run itself lasts D x U(0.97, 1.03). Lag = the CLI's exit minus the execution's `date-ended` in the
server's record; status calls = GET /api/44/execution/{id} per waited minute (trigger to exit). All
samples run at once (their CLIs side by side), so the whole bench takes about the longest job.

    .venv/bin/python bench/bench_lag_predictive.py [--samples 5] [--durations 20,600] [--write]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_lag_rundeck import CLI, STANDIN, Rundeck, _p95, clean_env, serving  # noqa: E402
from report import publish  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-lag-predictive.md"
MODES = ("with history", "no history")


@dataclass(frozen=True)
class Sample:
    mode: str
    duration: float
    lag_s: float
    waited_s: float
    status_calls: int


def _prepare(rundeck: Rundeck, job: str, duration: float, mode: str, rng: random.Random) -> None:
    rundeck.job(job, duration=duration * rng.uniform(0.97, 1.03), logs=[], options=[])
    if mode == "with history":
        past = [round(duration * rng.uniform(0.95, 1.05), 2) for _ in range(10)]
        rundeck.admin("POST", "history", {"job": job, "durations": past})


def _measure(rundeck: Rundeck, job: str, duration: float, mode: str) -> Sample:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        command = [str(CLI), "trigger", "--platform", "rundeck", "--url", rundeck.url, "--job", job, "--no-logs",
                   "--timeout", f"{int(duration * 2 + 120)}s", "--result-file", str(result_file)]  # fmt: skip
        started = time.time()
        done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=duration * 2 + 180)
        exited = time.time()
        if done.returncode != 0:
            raise RuntimeError(f"the CLI failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        execution_id = json.loads(result_file.read_text(encoding="utf-8"))["triggers"][0]["run_id"]
    ended = float(rundeck.execution(execution_id)["date-ended"]["unixtime"]) / 1000
    path = f"/api/44/execution/{execution_id}"
    calls = sum(1 for r in rundeck.requests() if r["method"] == "GET" and r["path"] == path)
    return Sample(mode, duration, exited - ended, exited - started, calls - 1)  # less the bench's own read above


def _run_all(rundeck: Rundeck, plan: list[tuple[float, str, str]], rng: random.Random) -> list[Sample]:
    rundeck.admin("POST", "reset", {})
    for duration, mode, job in plan:
        _prepare(rundeck, job, duration, mode, rng)
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        return list(pool.map(lambda p: _measure(rundeck, p[2], p[0], p[1]), plan))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--durations", default="20,600")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    durations = [float(d) for d in args.durations.split(",")]
    rng = random.Random(7)
    plan = [
        (d, mode, f"bench-{int(d)}-{mode.split()[0]}-{i}")
        for d in durations
        for mode in MODES
        for i in range(args.samples)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        port_file = Path(scratch) / "port"
        with serving(STANDIN, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
            samples = _run_all(Rundeck(f"http://127.0.0.1:{ports[0]}"), plan, rng)
    rows = [
        "| job | polling | samples | lag p50 | lag p95 | status calls per waited minute |",
        "|---|---|---|---|---|---|",
    ]
    for duration in durations:
        for mode in MODES:
            chosen = [s for s in samples if s.duration == duration and s.mode == mode]
            lags = [s.lag_s for s in chosen]
            rate = sum(s.status_calls for s in chosen) / (sum(s.waited_s for s in chosen) / 60)
            rows.append(f"| {duration:g} s | {mode} | {len(chosen)} | {statistics.median(lags):.2f} s "
                        f"| {_p95(lags):.2f} s | {rate:.1f} |")  # fmt: skip
    text = f"""# Polling paced by the job's history: lag and status calls

Made by `bench/bench_lag_predictive.py` on {time.strftime("%Y-%m-%d")}, 2 CPUs, against the Rundeck stand-in:
{args.samples} samples per row, all run side by side. p95 is the nearest rank (the maximum for fewer than 20).

{chr(10).join(rows)}
"""
    return publish(text, RESULTS, args.write)


if __name__ == "__main__":
    sys.exit(main())
