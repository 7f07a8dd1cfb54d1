"""Benchmark: a plan of N independent triggers of a 20 s job, waited for to the end, in one run side by side.

Against the generic test scheduler (tests/servers/generic_scheduler.py) on 127.0.0.1, for each N:

    after             this checkout, defaults (long-poll, the batch status endpoint, 100 runs a batch), max-parallel N
    after, batch-size 1000   the same, up to 1000 runs a batch read
    after, polling    this checkout, `long-poll: 0` (batch reads at the polling pace), max-parallel N
    before            the code at --baseline (a thread per waiting run), max-parallel min(N, 64), its maximum

Measured per run: wall, wall over the job's 20 s, the spread of the trigger requests (first to last, on the
server's clock), the lag of the last end (CLI exit minus the last run's end), client CPU and peak RSS (the CLI's
own rusage from os.wait4), and status calls per waited minute for the whole plan (every status and batch status
request the server saw, over the wall time). Logs are off, so reads are status reads only.

    .venv/bin/python bench/bench_scale.py [--sizes 10,100,1000] [--seconds 20] [--baseline REV] [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from report import publish  # noqa: E402
from servers.harness import GenericScheduler  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-scale.md"
TOKEN = "bench-scale-token"
BEFORE_MAX_PARALLEL = 64
MODES = ("after", "after, batch-size 1000", "after, polling", "before")


@dataclass(frozen=True)
class Sample:
    mode: str
    n: int
    wall: float
    start_spread: float
    last_lag: float
    cpu: float
    rss_mb: float
    calls_per_minute: float
    server_cpu: float
    exit_code: int


def _plan(server: GenericScheduler, n: int, seconds: float, mode: str) -> dict[str, Any]:
    platform: dict[str, Any] = {"type": "generic", "url": server.url, "options": {}}
    if mode == "after, polling":
        platform["options"]["long-poll"] = 0
    if mode == "after, batch-size 1000":
        platform["options"]["batch-size"] = 1000
    max_parallel = min(n, BEFORE_MAX_PARALLEL) if mode == "before" else n
    triggers = [{"name": f"t{i}", "job": "bench", "logs": False, "timeout": f"{seconds + 600:g}s"} for i in range(n)]
    return {"version": 1, "max-parallel": max_parallel, "platforms": {"s": platform}, "triggers": triggers}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from /proc (the server shares the machine's 2 CPUs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sample(server: GenericScheduler, mode: str, n: int, seconds: float, src: Path) -> Sample:
    server.reset()
    server.define_job("bench", "success", seconds)
    server_cpu = _cpu_seconds(server.process.pid)
    plan = _plan(server, n, seconds, mode)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "plan.yml"
        path.write_text(yaml.safe_dump(plan), encoding="utf-8")
        env = {"TRIGGER_SCHEDULE_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(src)}
        command = [sys.executable, "-m", "trigger_schedule", "run", "--config", str(path), "--result-file", "r.json"]
        began = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        ended = time.time()
        stderr = process.stderr.read().decode() if process.stderr else ""
        process.stderr and process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{mode} N={n}: exit {code}\n{stderr[-2000:]}")
    triggers = sorted(r["time"] for r in server.requests("trigger"))
    reads = server.requests("status") + server.requests("batch-status")
    return Sample(
        mode=mode,
        n=n,
        wall=wall,
        start_spread=triggers[-1] - triggers[0],
        last_lag=ended - (triggers[-1] + seconds),
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        calls_per_minute=len(reads) / (wall / 60),
        server_cpu=_cpu_seconds(server.process.pid) - server_cpu,
        exit_code=code,
    )


def _baseline_tree(revision: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), revision],
                   check=True, capture_output=True)  # fmt: skip
    return into / "python" / "src"


def _table(samples: list[Sample], seconds: float) -> str:
    rows = [
        "| N | code | wall | over the job | trigger spread | last end seen after | client CPU | peak RSS "
        "| status calls per waited minute (whole plan) | server CPU |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in samples:
        rows.append(
            f"| {s.n} | {s.mode} | {s.wall:.1f} s | +{s.wall - seconds:.1f} s | {s.start_spread:.1f} s "
            f"| {s.last_lag:.2f} s | {s.cpu:.1f} s | {s.rss_mb:.0f} MB | {s.calls_per_minute:.1f} "
            f"| {s.server_cpu:.1f} s |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--baseline", default="f6e72f5", help="the revision measured as `before`")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    server = GenericScheduler.start(token=TOKEN)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory() as scratch:
        before_src = _baseline_tree(args.baseline, Path(scratch) / "before")
        try:
            for n in sizes:
                for mode in MODES:
                    src = before_src if mode == "before" else ROOT / "python" / "src"
                    samples.append(_sample(server, mode, n, args.seconds, src))
                    print(_table(samples[-1:], args.seconds).splitlines()[-1], flush=True)
        finally:
            server.stop()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(scratch) / "before")],
                           capture_output=True)  # fmt: skip
    text = f"""# A plan of N triggers: one waiter against a thread per run

Made by `bench/bench_scale.py` on {time.strftime("%Y-%m-%d")}, 2 CPUs shared by the CLI and the test server (one
sample per row; rows of one N run back to back): N triggers of a {args.seconds:g} s job on the generic test server,
logs off. `before` is the code at `{args.baseline}` (a thread per waiting run; max-parallel at most 64).

{_table(samples, args.seconds)}
"""
    return publish(text, RESULTS, args.write)


if __name__ == "__main__":
    sys.exit(main())
