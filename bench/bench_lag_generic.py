"""Benchmark: completion-detection lag and status requests on the generic contract, long-poll against polling.

Against the generic test scheduler (tests/servers/generic_scheduler.py) on 127.0.0.1: a job of `--seconds`, the
CLI waiting with its defaults (long-poll, 5 s holds), with long-poll off (`long-poll: 0`, the default polling from
1 s to 15 s), and against a server without long-poll (the client falls back to polling). Lag = the CLI's exit
minus the run's end (the server's own clock); requests = status requests per waited minute. Interleaved rounds.

    .venv/bin/python bench/bench_lag_generic.py [--rounds 3] [--seconds 20] [--write]
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

from servers.harness import GenericScheduler  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-lag-generic.md"
TOKEN = "bench-lag-token"
MODES = ("long-poll", "polling", "server-without-long-poll")


def _sample(server: GenericScheduler, mode: str, seconds: float) -> tuple[float, float]:
    server.reset()
    server.configure(long_poll=mode != "server-without-long-poll")
    server.define_job("bench", "success", seconds)
    command = [sys.executable, "-m", "trigger_schedule", "trigger", "--platform", "generic", "--url", server.url,
               "--job", "bench", "--no-logs", "--timeout", f"{seconds + 120:g}s"]  # fmt: skip
    if mode == "polling":
        command += ["--platform-options", '{"long-poll": 0}']
    done = subprocess.run(command, env={"TRIGGER_SCHEDULE_TOKEN": TOKEN, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=seconds + 180)  # fmt: skip
    ended = time.time()
    if done.returncode != 0:
        raise SystemExit(f"{mode}: exit {done.returncode}\n{done.stdout}{done.stderr}")
    (trigger,) = server.requests("trigger")
    run_end = trigger["time"] + seconds
    status = server.requests("status")
    waited_minutes = max((ended - trigger["time"]) / 60, 1e-9)
    return ended - run_end, len(status) / waited_minutes


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    server = GenericScheduler.start(token=TOKEN)
    lags: dict[str, list[float]] = {m: [] for m in MODES}
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    try:
        for index in range(args.rounds):
            for mode in MODES:
                lag, rate = _sample(server, mode, args.seconds)
                lags[mode].append(lag)
                rates[mode].append(rate)
            print(f"round {index + 1}: " + ", ".join(f"{m} {lags[m][-1]:.2f}s" for m in MODES), flush=True)
    finally:
        server.stop()
    rows = ["| mode | lag p50 | lag p95 | status requests per waited minute (median) |", "|---|---|---|---|"]
    for mode in MODES:
        rows.append(f"| {mode} | {statistics.median(lags[mode]):.2f} s | {_p95(lags[mode]):.2f} s | "
                    f"{statistics.median(rates[mode]):.1f} |")  # fmt: skip
    text = f"""# Completion-detection lag on the generic contract: long-poll against polling

Made by `bench/bench_lag_generic.py` ({args.rounds} rounds, interleaved) on {time.strftime("%Y-%m-%d")}, 2 CPUs:
a {args.seconds:g} s job, the CLI with `--no-logs`. Lag = CLI exit minus the run's end (it includes the CLI's exit
after the last answer); requests per waited minute count every status request from the trigger to the exit.

{chr(10).join(rows)}

With long-poll the server answers the held request the moment the run ends, so the lag is the answer's trip and the
CLI's exit; the request rate is at most 12 a minute (5 s holds). Without it, the adaptive polling (1 s growing to
15 s) sees the end up to a poll interval late. A server without long-poll is asked once, answers at once, and is
polled from then on: the same as polling, plus that one request.
"""
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
