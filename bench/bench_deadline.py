"""Benchmark: how far past its deadline a trigger ends when the scheduler's status or logs endpoint is slow.

Against the generic test scheduler (tests/servers/generic_scheduler.py) on 127.0.0.1, a job that never ends and
a 4 s `--timeout`; one endpoint answers each request only after 30 s (then 503). Overshoot is the CLI's wall time
minus the timeout, measured from the process start (so it includes the interpreter's start, measured apart as
`startup`). Cases, interleaved round after round:

    startup       `trigger-schedule --version`: what every run pays before its deadline starts
    slow-status   the status endpoint is slow, logs streamed
    slow-logs     the logs endpoint is slow, logs streamed
    slow-logs-off the logs endpoint is slow, with --no-logs (the log reader never runs)

    .venv/bin/python bench/bench_deadline.py [--rounds 5] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from report import publish  # noqa: E402
from servers.harness import GenericScheduler  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-deadline.md"
TOKEN = "bench-deadline-token"
TIMEOUT_S = 4.0
SLOW_S = 30.0
CASES = ("startup", "slow-status", "slow-logs", "slow-logs-off")


def _run(server: GenericScheduler, case: str) -> float:
    if case == "startup":
        command = [sys.executable, "-m", "trigger_schedule", "--version"]
    else:
        endpoint = "status" if case == "slow-status" else "logs"
        server.reset()
        server.inject(endpoint, [{"status": 503, "delay_s": SLOW_S}] * 20)
        command = [
            sys.executable,
            "-m",
            "trigger_schedule",
            "trigger",
            "--platform",
            "generic",
            "--url",
            server.url,
            "--job",
            "slow",
            "--timeout",
            f"{TIMEOUT_S:g}s",
            "--poll-interval",
            "200ms",
            "--read-timeout",
            "60s",
        ]
        if case == "slow-logs-off":
            command.append("--no-logs")
    env = {"TRIGGER_SCHEDULE_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    expected = 0 if case == "startup" else 6
    if done.returncode != expected:
        raise SystemExit(f"{case}: exit {done.returncode}, expected {expected}:\n{done.stdout}{done.stderr}")
    return took if case == "startup" else took - TIMEOUT_S


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(samples: dict[str, list[float]], rounds: int) -> str:
    rows = ["| case | p50 | p95 | max |", "|---|---|---|---|"]
    for case in CASES:
        values = samples[case]
        label = case if case != "startup" else "startup (wall, not overshoot)"
        rows.append(f"| {label} | {statistics.median(values):.2f} s | {_p95(values):.2f} s | {max(values):.2f} s |")
    return f"""# Deadline overshoot with a slow status or logs endpoint

Made by `bench/bench_deadline.py` ({rounds} rounds, interleaved) on {time.strftime("%Y-%m-%d")}, 2 CPUs: a job that
never ends, `--timeout {TIMEOUT_S:g}s`, one endpoint answering after {SLOW_S:g} s. Overshoot = wall time from the
process start minus the timeout; it includes the interpreter's start (the startup row).

{chr(10).join(rows)}

Every request of a trigger ends by its deadline (`http.bounded_by`, set around the trigger's lifecycle), its
connect and read timeouts cut to what is left and no retry started past it, so a slow endpoint costs at most about
a second past the deadline (the floor of one request's timeout) on top of the interpreter's start. Before this,
a slow logs endpoint held the run until its 30 s answer came (the slow-logs case failed its test at 30+ s).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    server = GenericScheduler.start(token=TOKEN)
    samples: dict[str, list[float]] = {case: [] for case in CASES}
    try:
        for index in range(args.rounds):
            for case in CASES:
                samples[case].append(_run(server, case))
            print(f"round {index + 1}: " + ", ".join(f"{c} {samples[c][-1]:.2f}s" for c in CASES), flush=True)
    finally:
        server.stop()
    text = report(samples, args.rounds)
    return publish(text, RESULTS, args.write)


if __name__ == "__main__":
    sys.exit(main())
