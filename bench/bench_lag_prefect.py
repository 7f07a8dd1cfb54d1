"""Benchmark: how late `trigger-schedule` notices that a Prefect flow run ended, and how many status calls it makes.

Against a real Prefect 3 server on 127.0.0.1 (tests/platforms/prefect/prefect_server.py, the tests'
server: basic auth, a `serve()` process running the flows), each method waits for flow runs of the
`slow/ci` deployment that sleep a fixed number of seconds:

    ts            `trigger-schedule trigger` with its defaults: follows the run on Prefect's event websocket
                  (logs on, so it also waits for the run's last log lines)
    ts-no-logs    the same with --no-logs
    ts-polling    --no-logs with the event stream off (`events: false`): the core's polling, from 1 s,
                  x1.5 with jitter, up to 15 s
    fixed-5s      a `requests` loop polling GET /api/flow_runs/{id} every 5 s (what peer CI tools do)
    fixed-10s     the same every 10 s

lag = the moment the method returned (the CLI process exited, or the loop saw the terminal state)
minus the flow run's `end_time` on the server (same machine, same clock). Status calls are the
GET /api/flow_runs/{id} requests (for the CLI, counted from its --debug request log); "per waited
minute" divides them by the time from the run's creation to the method's return.

    .venv/bin/python bench/bench_lag_prefect.py                 # print the Markdown report
    .venv/bin/python bench/bench_lag_prefect.py --write         # ... and write bench/RESULTS-lag-prefect.md
    .venv/bin/python bench/bench_lag_prefect.py --runs 2 --durations 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "platforms" / "prefect"))

from prefect_server import PASSWORD, USER, PrefectServer  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-lag-prefect.md"
PYTHON = ROOT / ".venv" / "bin" / "python"
JOB = "slow/ci"
TARGET_P95_S = 2.0
TARGET_CALLS_PER_MIN = 10.0
RUN_TIMEOUT_S = 600.0  # one waited run; a hung one fails the benchmark instead of stalling it
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
CLI_METHODS = {
    "ts": (),
    "ts-no-logs": ("--no-logs",),
    "ts-polling": ("--no-logs", "--platform-options", '{"events": false}'),
}
FIXED_METHODS = {"fixed-5s": 5.0, "fixed-10s": 10.0}


NOTES = """\
How to read this:

- `ts` and `ts-no-logs` follow the run on Prefect's event websocket (`/api/events/out`): the server
  pushes each state change, so the CLI reads the run's state over REST twice (once after subscribing,
  once to confirm the terminal event) plus once per 30 s as a safety net, whatever the run's length.
- Polling (`ts-polling`, or a fixed interval) notices the end on average half an interval late; 10
  calls per minute means one every 6 s, whose p95 lag is ~5.7 s. No polling schedule meets both
  targets for runs of unknown length.
- The calls per waited minute of short runs are high for every method that notices the end in time:
  a 5 s wait with 2 calls is 24 per minute. Absolute counts are in the calls column.
- `ts` (logs on) waits for the run's last log lines: Prefect's engine logs `Finished in state ...`
  about 1.1 s after the run's `end_time` and ships it in its final batch, so complete logs cost that
  much on top of the lag; `--no-logs` (or `logs: false`) exits at once.
- Flow runs start a Python subprocess on this 2-core machine, so their start and end times vary by a
  second or two."""


@dataclass(frozen=True)
class Sample:
    method: str
    duration: float
    lag: float
    calls: int
    waited: float  # seconds from the run's creation to the method's return

    @property
    def per_minute(self) -> float:
        return self.calls / (self.waited / 60.0)


def parse_time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def cli_env() -> dict[str, str]:
    """The project's CLI without any CI context, with the server's basic-auth credentials."""
    markers = ("CI", "GITHUB_", "GITLAB_", "CI_", "JENKINS_", "BUILD_", "GIT_", "RUNNER_", "TRIGGER_SCHEDULE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(markers)}
    env.update({"TRIGGER_SCHEDULE_USERNAME": USER, "TRIGGER_SCHEDULE_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"})
    return env


def run_cli(server: PrefectServer, method: str, seconds: float, workdir: Path) -> Sample:
    command = [
        str(PYTHON),
        *("-m", "trigger_schedule", "trigger", "--platform", "prefect", "--url", server.url),
        *("--auth-type", "basic", "--job", JOB, "--params", json.dumps({"seconds": seconds})),
        *("--force-new", "--timeout", "10m", "--debug", "--result-file", "result.json"),
        *CLI_METHODS[method],
    ]
    done = subprocess.run(
        command, env=cli_env(), cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    returned = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{method}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    run_id = json.loads((workdir / "result.json").read_text())["triggers"][0]["run_id"]
    run = server.flow_run(run_id)
    calls = sum(1 for line in done.stderr.splitlines() if f"-> GET {server.api}/flow_runs/{run_id}" in line)
    return Sample(method, seconds, returned - parse_time(run["end_time"]), calls, returned - parse_time(run["created"]))


def run_fixed(server: PrefectServer, method: str, seconds: float) -> Sample:
    interval = FIXED_METHODS[method]
    deployment = server.deployment_id(JOB)
    run = server.post(f"/deployments/{deployment}/create_flow_run", {"parameters": {"seconds": seconds}})
    calls = 0
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(interval)
        try:
            run = server.flow_run(run["id"])
        except requests.ConnectionError:
            # uvicorn drops keep-alive connections idle for 5 s; a 5 s poll can race that. Ask again.
            calls += 1
            run = server.flow_run(run["id"])
        calls += 1
        if run["state_type"] in TERMINAL:
            returned = time.time()
            return Sample(
                method, seconds, returned - parse_time(run["end_time"]), calls, returned - parse_time(run["created"])
            )
    raise RuntimeError(f"{method}: run {run['id']} did not end within {RUN_TIMEOUT_S:.0f} s")


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: with few samples, p95 is the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def report(samples: list[Sample], runs: int, durations: Sequence[float], elapsed: float) -> str:
    methods = [*CLI_METHODS, *FIXED_METHODS]
    lines = [
        "# Prefect: lag between a flow run's end and `trigger-schedule` noticing it",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in one run of `bench/bench_lag_prefect.py` "
        f"({elapsed / 60:.1f} min): Prefect 3.8.8 on 127.0.0.1, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores shared with other work; {runs} runs per method and duration, interleaved.",
        "",
        f"Targets (from the issue): p95 lag <= {TARGET_P95_S:.0f} s with <= {TARGET_CALLS_PER_MIN:.0f} status calls "
        "per waited minute. lag = the method's return (CLI exit, or the loop seeing the terminal state) minus "
        "the flow run's server-side `end_time`; status calls = GET /api/flow_runs/{id}.",
        "",
        "| sleep | method | lag median | lag p95 | status calls (median) | calls per waited minute (median) "
        "| target met |",
        "|---|---|---|---|---|---|---|",
    ]
    for duration in durations:
        for method in methods:
            chosen = [s for s in samples if s.method == method and s.duration == duration]
            if not chosen:
                continue
            lags = [s.lag for s in chosen]
            per_minute = statistics.median(s.per_minute for s in chosen)
            met = percentile(lags, 0.95) <= TARGET_P95_S and per_minute <= TARGET_CALLS_PER_MIN
            lines.append(
                f"| {duration:g} s | {method} | {statistics.median(lags):.2f} s | {percentile(lags, 0.95):.2f} s "
                f"| {statistics.median(s.calls for s in chosen):g} | {per_minute:.1f} | {'yes' if met else 'no'} |"
            )
    lines += ["", *NOTES.splitlines(), "", "Every sample (lag s / calls / waited s):", ""]
    for method in methods:
        for duration in durations:
            chosen = [s for s in samples if s.method == method and s.duration == duration]
            shown = ", ".join(f"{s.lag:.2f}/{s.calls}/{s.waited:.0f}" for s in chosen)
            if shown:
                lines.append(f"- {method}, {duration:g} s: {shown}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--durations", type=float, nargs="+", default=[3.0, 30.0], help="flow sleep seconds")
    parser.add_argument("--methods", nargs="+", default=[*CLI_METHODS, *FIXED_METHODS])
    parser.add_argument("--write", action="store_true", help=f"write the report to {RESULTS.relative_to(ROOT)}")
    options = parser.parse_args(argv)
    started = time.monotonic()
    server = PrefectServer.start()
    samples: list[Sample] = []
    try:
        workdir = server.workdir / "bench"
        workdir.mkdir()
        for round_number in range(options.runs):
            for duration in options.durations:
                for method in options.methods:
                    if method in CLI_METHODS:
                        sample = run_cli(server, method, duration, workdir)
                    else:
                        sample = run_fixed(server, method, duration)
                    samples.append(sample)
                    print(
                        f"round {round_number + 1}: {method} {duration:g}s lag={sample.lag:.2f}s "
                        f"calls={sample.calls} waited={sample.waited:.1f}s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        server.stop()
    text = report(samples, options.runs, options.durations, time.monotonic() - started)
    print(text)
    if options.write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
