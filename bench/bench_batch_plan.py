"""A whole plan of 8 DolphinScheduler triggers through the CLI: requests with the batch status read and without.

The stand-in api-server (tests/platforms/dolphinscheduler/standin.py, API 3.3) answers at once; its 8 workflows
run 5 to 12 s. `batch` is the CLI as shipped; `per-run` is the same CLI with the plug-in's batch_status_limit set
to 0, so the plan's waiter reads each instance on its own. Counted from the stand-in's request log.

Usage: .venv/bin/python bench/bench_batch_plan.py [--samples 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.admin import admin_call  # noqa: E402
from servers.processes import serving  # noqa: E402

TOKEN = "tok-3f9a-CANARY-71c2e"  # the stand-in's default token
RUNS = 8
PLAN = """version: 1
platforms:
  ds:
    type: dolphinscheduler
    url: ${DS_URL}
    auth: {type: bearer, token-env: DS_TOKEN}
    options: {project-code: "1234567890", api-version: "3.3"}
defaults: {platform: ds, timeout: 2m, logs: false}
triggers:
"""
# The CLI with the batch read turned off in the plug-in: what the waiter does for a platform without one.
PER_RUN = (
    "import sys; from trigger_schedule.platforms.dolphinscheduler import DolphinSchedulerPlatform as P; "
    "P.batch_status_limit = 0; from trigger_schedule.cli import main; sys.exit(main(sys.argv[1:]))"
)


def one(url: str, work: Path, batch: bool) -> tuple[int, int, float]:
    """Status requests (list pages, single reads) and seconds of one plan run."""
    admin_call(url, "POST", "reset", {"api_version": "3.3"})
    for index in range(1, RUNS + 1):
        admin_call(url, "POST", "definitions", {"code": f"91{index:02d}", "duration": 4 + index})
    env = {**os.environ, "DS_URL": f"{url}/dolphinscheduler", "DS_TOKEN": TOKEN}
    command = [sys.executable, "-m", "trigger_schedule"] if batch else [sys.executable, "-c", PER_RUN]
    started = time.monotonic()
    done = subprocess.run([*command, "run", "-c", "plan.yml"], cwd=work, env=env, capture_output=True, timeout=300)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the CLI exited {done.returncode}: {done.stderr.decode()[-800:]}")
    got = [r for r in admin_call(url, "GET", "requests")["requests"] if r["method"] == "GET"]
    # A list without a definition code is a batch read; with one, a trigger's look-up of earlier instances.
    lists = sum(
        1 for r in got if r["path"].endswith("/workflow-instances") and "workflowDefinitionCode" not in r["query"]
    )
    singles = sum(1 for r in got if "/workflow-instances/" in r["path"])
    return lists, singles, seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plan = PLAN + "".join(f'  - name: t{i}\n    job: "91{i:02d}"\n' for i in range(1, RUNS + 1))
        (work / "plan.yml").write_text(plan, encoding="utf-8")
        port_file = work / "port"
        script = ROOT / "tests/platforms/dolphinscheduler/standin.py"
        with serving(script, ["--port-file", str(port_file)], [port_file], health_path="/_admin/requests") as ports:
            url = f"http://127.0.0.1:{ports[0]}"
            results: dict[bool, list[tuple[int, int, float]]] = {True: [], False: []}
            for _ in range(args.samples):
                for batch in (True, False):
                    results[batch].append(one(url, work, batch))
    print("| mode | runs | batch reads | single reads | status requests | plan seconds |")
    print("|---|---|---|---|---|---|")
    for batch, label in ((True, "batch"), (False, "per-run")):
        rows = results[batch]
        lists, singles = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        seconds = statistics.median(r[2] for r in rows)
        print(f"| {label} | {RUNS} | {lists:.0f} | {singles:.0f} | {lists + singles:.0f} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
