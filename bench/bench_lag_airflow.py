"""Benchmark: how soon `trigger-schedule` exits after an Airflow DAG run ends, and how many status calls it makes.

Against real servers started by tests/platforms/airflow/airflow_harness.py (Airflow 3.3.2 with API v2, and
Airflow 2.10.5 with API v1), each run triggers the test DAG `ts_slow` (one task that runs `--job-seconds`)
and measures:

    lag            the CLI's exit (wall clock) minus the run's `end_date` on the server (same host clock)
    status calls   requests for the run's state (GET .../dagRuns/{id} and GET .../dagRuns/{id}/wait), counted
                   in the server's access log, per minute waited (trigger to exit)

side by side with what peer tools do, simulated with `requests`: trigger, then GET the run every 5 s or
10 s until it is final (lag = the poll that saw the final state minus `end_date`). On Airflow 3 the CLI is
measured twice: with the server-side wait stream (the default) and with it off (`server-wait: false`, the
adaptive polling every platform gets: 1 s growing by 1.5x to 15 s). Runs of all methods are interleaved.

    .venv/bin/python bench/bench_lag_airflow.py                 # print the Markdown report
    .venv/bin/python bench/bench_lag_airflow.py --write         # ... and write bench/RESULTS-lag-airflow.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "platforms" / "airflow"))

from airflow_harness import CREDENTIALS, AirflowServer  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-lag-airflow.md"
CLI = ROOT / ".venv" / "bin" / "trigger-schedule"
DAG = "ts_slow"
RUN_TIMEOUT_S = 300.0
TERMINAL = {"success", "failed"}
TARGET_LAG_S = {3: 1.0, 2: 2.0}
TARGET_CALLS_PER_MIN = 10.0


@dataclass
class Sample:
    lag_s: float
    waited_s: float
    status_calls: int
    all_calls: int  # status, task instances and logs: every request about the run


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def lags(self) -> list[float]:
        return [s.lag_s for s in self.samples]

    def calls_per_min(self, everything: bool = False) -> float:
        waited = sum(s.waited_s for s in self.samples) / 60
        calls = sum(s.all_calls if everything else s.status_calls for s in self.samples)
        return calls / waited if waited else float("nan")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank: the max for fewer than 20


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _calls(server: AirflowServer, run_id: str) -> tuple[int, int]:
    """(requests for the run's state, all requests about the run), from the server's access log."""
    name = "api-server.log" if server.major == 3 else "webserver.log"
    text = (server.home / name).read_text(encoding="utf-8", errors="replace")
    run = re.escape(run_id)
    status = re.compile(rf"GET\S*\s+\S*/dagRuns/{run}(/wait)?[\s?\"']|path=\S*/dagRuns/{run}(/wait)?\s")
    about_run = [line for line in text.splitlines() if f"/dagRuns/{run_id}" in line and "GET" in line]
    return sum(1 for line in about_run if status.search(line)), len(about_run)


def measure_cli(server: AirflowServer, seconds: int, options: str) -> Sample:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        command = [
            str(CLI),
            "trigger",
            "--platform",
            "airflow",
            "--url",
            server.url,
            "--job",
            DAG,
            "--params",
            json.dumps({"seconds": seconds}),
            "--auth-type",
            "basic",
            "--username-env",
            "AIRFLOW_USERNAME",
            "--password-env",
            "AIRFLOW_PASSWORD",
            "--platform-options",
            options,
            "--force-new",
            "--timeout",
            f"{int(RUN_TIMEOUT_S)}s",
            "--result-file",
            str(result_file),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CI", "GITHUB_", "GITLAB_", "TRIGGER_"))}
        started = time.time()
        done = subprocess.run(
            command, env={**env, **CREDENTIALS}, capture_output=True, text=True, timeout=RUN_TIMEOUT_S + 30
        )
        exited = time.time()
        if done.returncode != 0:
            raise RuntimeError(f"the CLI failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        run_id = json.loads(result_file.read_text(encoding="utf-8"))["triggers"][0]["run_id"]
    status_calls, all_calls = _calls(server, run_id)  # before the GET below, which is the bench's own
    end = _parse_time(server.get_run(DAG, run_id)["end_date"])
    return Sample(exited - end, exited - started, status_calls, all_calls)


def measure_polling(server: AirflowServer, seconds: int, interval: float) -> Sample:
    run_id = f"bench__{uuid.uuid4().hex}"
    started = time.time()
    body: dict[str, Any] = {"dag_run_id": run_id, "conf": {"seconds": seconds}}
    if server.major == 3:
        body["logical_date"] = None
    server.request("POST", f"/dags/{DAG}/dagRuns", json=body).raise_for_status()
    calls, deadline = 0, time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        calls += 1
        run = server.get_run(DAG, run_id)
        if run["state"] in TERMINAL:
            seen = time.time()
            return Sample(seen - _parse_time(run["end_date"]), seen - started, calls, calls)
        time.sleep(interval)
    raise RuntimeError(f"run {run_id} did not end within {RUN_TIMEOUT_S:.0f}s")


def bench_server(major: int, runs: int, seconds: int) -> list[Series]:
    print(f"starting Airflow {major} ...", file=sys.stderr, flush=True)
    server = AirflowServer.start(major)
    try:
        server.wait_for_dags([DAG])
        methods: list[tuple[Series, Callable[[], Sample]]] = [
            (Series("trigger-schedule (server-side wait stream)"), lambda: measure_cli(server, seconds, "{}")),
            (
                Series("trigger-schedule (adaptive polling, server-wait off)"),
                lambda: measure_cli(server, seconds, "{server-wait: false}"),
            ),
            (Series("fixed polling every 5 s (requests)"), lambda: measure_polling(server, seconds, 5.0)),
            (Series("fixed polling every 10 s (requests)"), lambda: measure_polling(server, seconds, 10.0)),
        ]
        if major == 2:  # no wait stream on Airflow 2: the CLI polls
            methods = [(Series("trigger-schedule (adaptive polling)"), methods[1][1]), *methods[2:]]
        measure_cli(server, 1, "{}")  # warm-up: first task start and first parse are slower
        for round_number in range(runs):
            for series, measure in methods:
                sample = measure()
                series.samples.append(sample)
                print(
                    f"  airflow{major} round {round_number + 1}/{runs} {series.name}: lag {sample.lag_s:.2f}s, "
                    f"{sample.status_calls} status calls ({sample.all_calls} with logs) in {sample.waited_s:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
        return [series for series, _ in methods]
    finally:
        server.stop()


def report(results: dict[int, list[Series]], runs: int, seconds: int) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Airflow: lag between a run's end and the CLI's exit, and status calls per waited minute",
        "",
        f"Measured in one run of `bench/bench_lag_airflow.py` on {when}: {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; real servers on 127.0.0.1 (Airflow 3.3.2 "
        "API v2 with the LocalExecutor; Airflow 2.10.5 API v1 with the SequentialExecutor). "
        f"Each run triggers `{DAG}` with one task of {seconds} s; {runs} runs per method, interleaved, after "
        "one warm-up run. Lag = exit (or the poll that saw the final state) minus the run's `end_date` on the "
        "server. Status calls = GET of the run or of its `/wait` stream, counted in the server's access log "
        "(log fetches excluded; the last column counts every request about the run, task-instance lists and "
        "log fetches included), per minute from trigger to exit. p95 is nearest-rank (the maximum at "
        f"{runs} runs). The CLI ran with its defaults (logs streamed, poll 1 s growing to 15 s).",
        "",
    ]
    for major, series_list in results.items():
        lines += [
            f"## Airflow {major} (API v{2 if major == 3 else 1})",
            "",
            "| method | median lag | p95 lag | max lag | status calls / waited min | all requests / waited min |",
            "|---|---|---|---|---|---|",
        ]
        for series in series_list:
            lags = series.lags()
            lines.append(
                f"| {series.name} | {statistics.median(lags):.2f} s | {_p95(lags):.2f} s | {max(lags):.2f} s "
                f"| {series.calls_per_min():.1f} | {series.calls_per_min(everything=True):.1f} |"
            )
        best = series_list[0]
        lag_ok = _p95(best.lags()) <= TARGET_LAG_S[major]
        calls_ok = best.calls_per_min() <= TARGET_CALLS_PER_MIN
        lines += [
            "",
            f"Target for the CLI: p95 lag <= {TARGET_LAG_S[major]:.0f} s with <= {TARGET_CALLS_PER_MIN:.0f} status "
            f"calls per waited minute: lag {'met' if lag_ok else 'NOT met'}, calls {'met' if calls_ok else 'NOT met'}.",
            "",
        ]
    return "\n".join(lines + NOTES)


NOTES = [
    "## Reading these numbers",
    "",
    "- Airflow 3: the wait stream (`GET .../dagRuns/{id}/wait?interval=0.5`) is one HTTP request per wait; "
    "the server checks the run's state every 0.5 s in its own database session, so the CLI learns the end "
    "within about half a second whatever the job's length. Off, the CLI's adaptive polling (1 s growing "
    "1.5x to 15 s) makes more status calls on short waits and fewer on long ones (about 4 a minute once it "
    "reaches 15 s), and its lag grows with the interval reached.",
    "- Airflow 2 has no server-side wait, so the CLI polls. Polling cannot give a p95 lag of 2 s with at "
    "most 10 status calls a minute: 10 calls a minute is one every 6 s, an expected lag of 3 s. Users who "
    "need a shorter lag on Airflow 2 can set `poll-max-interval: 2s` (about 30 calls a minute).",
    "- The last column shows the price of streaming logs: each log fetch (at most every `logs-interval`, "
    "5 s by default, and once at the end) lists the task instances and reads each unfinished try. "
    "`--no-logs` (or `logs: false`) leaves only the status calls.",
    "",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per method and server (default 5)")
    parser.add_argument("--job-seconds", type=int, default=20, help="how long the DAG's task runs (default 20)")
    parser.add_argument("--only", type=int, choices=(2, 3), help="bench one Airflow major version")
    parser.add_argument("--write", action="store_true", help=f"write the report to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the servers' finally blocks stop them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    majors = [args.only] if args.only else [3, 2]
    results = {major: bench_server(major, args.runs, args.job_seconds) for major in majors}
    text = report(results, args.runs, args.job_seconds)
    print(text)
    if args.write:
        RESULTS.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
