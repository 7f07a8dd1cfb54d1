"""Benchmark: a plan of N triggers of a 20 s DAG against a real Airflow 3, one waiter against a thread per run.

Airflow 3 (tests/platforms/airflow/airflow_harness.py: api-server, scheduler and dag-processor, LocalExecutor)
with its parallelism raised to N, so the N runs can run at once; the DAG is `ts_slow` with `seconds: 20`. Side by
side, one sample each, alternating: this checkout (`after`) and the code at --baseline (`before`). Measured: wall,
wall over the slowest run (its end_date - start_date in Airflow's record), client CPU and peak RSS (os.wait4), and
the status reads the api-server logged (GET of a run, and `dagRuns/list` batch reads) per waited minute.

    .venv/bin/python bench/bench_scale_airflow.py [--sizes 10] [--baseline REV] [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "platforms" / "airflow"))
sys.path.insert(0, str(ROOT / "bench"))

from airflow_harness import CREDENTIALS, AirflowServer  # noqa: E402
from report import publish  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-scale-airflow.md"
SECONDS = 20


def _plan(server: AirflowServer, n: int, tag: str) -> dict[str, Any]:
    auth = {"type": "basic", "username-env": "AIRFLOW_USERNAME", "password-env": "AIRFLOW_PASSWORD"}
    platform = {"type": "airflow", "url": server.url, "auth": auth}
    triggers = [{"name": f"{tag}{i}", "job": "ts_slow", "params": {"seconds": SECONDS}, "logs": False,
                 "timeout": "15m"} for i in range(n)]  # fmt: skip
    return {"version": 1, "max-parallel": n, "platforms": {"a": platform}, "triggers": triggers}


def _reads(server: AirflowServer) -> int:
    text = (server.home / "api-server.log").read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    return sum(1 for line in lines if "dagRuns/list" in line or "GET /api/v2/dags/ts_slow/dagRuns/" in line)


def _sample(server: AirflowServer, n: int, mode: str, src: Path) -> str:
    reads_before = _reads(server)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "plan.yml"
        path.write_text(yaml.safe_dump(_plan(server, n, f"{mode}-{time.time_ns()}-")), encoding="utf-8")
        env = {**CREDENTIALS, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(src)}
        began = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "trigger_schedule", "run", "--config", str(path)],
                                   env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        error = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} N={n}: exit {os.waitstatus_to_exitcode(status)}\n{error[-2000:]}")
    runs = sorted(server.list_runs("ts_slow"), key=lambda r: r.get("start_date") or "")[-n:]
    stamp = datetime.fromisoformat
    slowest = max(stamp(r["end_date"]).timestamp() - stamp(r["start_date"]).timestamp() for r in runs)
    reads = _reads(server) - reads_before
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    return (f"| {n} | {mode} | {wall:.1f} s | {slowest:.1f} s | +{wall - slowest:.1f} s "
            f"| {cpu:.1f} s | {rss:.0f} MB | {reads / (wall / 60):.1f} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10")
    parser.add_argument("--baseline", default="f6e72f5")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    most = max(sizes)
    extra = {"AIRFLOW__CORE__PARALLELISM": str(most), "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(most),
             "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": str(most)}  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.baseline],
                       check=True, capture_output=True)  # fmt: skip
        server = AirflowServer.start(3, extra_env=extra)
        try:
            server.wait_for_dags(["ts_slow"])
            for n in sizes:
                for mode, src in (("after", ROOT / "python" / "src"), ("before", before / "python" / "src")):
                    rows.append(_sample(server, n, mode, src))
                    print(rows[-1], flush=True)
        finally:
            server.stop()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], capture_output=True)
    text = f"""# A plan of N triggers against a real Airflow 3: one waiter against a thread per run

Made by `bench/bench_scale_airflow.py` on {time.strftime("%Y-%m-%d")}, 2 CPUs shared by the CLI and Airflow 3
(api-server, scheduler, dag-processor, LocalExecutor with parallelism {most}); one sample per row. `before` is
`{args.baseline}`.
Reads are the api-server's logged status reads (a run's GET, and batch `dagRuns/list`) per waited minute.

| N | code | wall | slowest run | wall over it | client CPU | peak RSS | status reads per waited minute |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    return publish(text, RESULTS, args.write)


if __name__ == "__main__":
    sys.exit(main())
