"""Benchmark: a no-wait `trigger-schedule trigger` against `curl` doing the same request, in one run.

Targets (from the project's issue): median overhead over curl <= 100 ms, peak RSS <= 50 MB.

It starts the project's fake scheduler (tests/servers/generic_scheduler.py) on 127.0.0.1, then
interleaves, round after round:

    A(tmp)   trigger-schedule trigger ... --no-wait --force-new   in a temporary non-git directory
    B        curl -sS -X POST ... /v1/jobs/trigger                 (the same request)
    A(repo)  the same trigger-schedule command, in the repository checkout (git detection runs)
    B        curl again
    S0..S2   a startup ladder: `python -c pass`, `import trigger_schedule.cli`, that plus `requests`,
             and every module a real run imports, to split A into interpreter start, imports and
             the run's own work (then profiled in-process with cProfile)

each timed with time.perf_counter() around subprocess.run(). Peak RSS comes from `/usr/bin/time -v`
(or os.wait4()'s ru_maxrss when it is missing); the import breakdown from `python -X importtime -m
trigger_schedule trigger ...`, with the importing file:line from a run with an __import__ hook.

    .venv/bin/python bench/bench_trigger.py            # print the Markdown report
    .venv/bin/python bench/bench_trigger.py --write    # ... and write it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SERVER = ROOT / "tests" / "servers" / "generic_scheduler.py"
RESULTS = ROOT / "bench" / "RESULTS.md"
TOKEN = "T"
JOB = "instant"
PARAMS = (("environment", "production"), ("version", "1.2.3"))

TARGET_OVERHEAD_MS = 100.0
TARGET_RSS_MB = 50.0

RUN_TIMEOUT_S = 30.0  # one subprocess; a hung one fails the benchmark instead of stalling it
SERVER_START_TIMEOUT_S = 10.0
SERVER_STOP_GRACE_S = 5.0
PROFILE_RUNS = 3  # in-process cProfile runs of cli.main(); the median one is reported
IMPORTTIME_RUNS = 5  # -X importtime runs (after one discarded warm-up) for per-module medians
SERVER_MAX_LIFETIME_S = 900  # the server's own bound, should this script die without stopping it

# Variables that make trigger-schedule believe it runs in a CI system (or change its behaviour).
STRIP_EXACT = frozenset(
    {
        "CI",
        "BRANCH_NAME",
        "BUILD_NUMBER",
        "BUILD_URL",
        "BUILD_USER_ID",
        "CHANGE_AUTHOR",
        "CHANGE_BRANCH",
        "CHANGE_ID",
        "JOB_NAME",
        "TAG_NAME",
        "PYTHONPROFILEIMPORTTIME",
        "PYTHONDEVMODE",
        "PYTHONTRACEMALLOC",
        "PYTHONMALLOC",
        "PYTHONASYNCIODEBUG",
    }
)
STRIP_PREFIXES = ("CI_", "GITHUB_", "GITLAB_", "JENKINS_", "GIT_", "RUNNER_", "TRIGGER_SCHEDULE_")

# Imports what a real run imports (argv[2]: comma-separated modules), then profiles the first
# cli.main(argv[3:]) in-process: the run's own work without interpreter start and imports. Writes
# {"total_ms", "rows": [[function, file:line, calls, cumulative_ms]]} to the file named by argv[1].
PROFILE_RUN = r"""
import cProfile, importlib, json, os, pstats, sys, time
out, modules, args = sys.argv[1], sys.argv[2], sys.argv[3:]
for name in modules.split(","):
    importlib.import_module(name)
from trigger_schedule.cli import main
profile = cProfile.Profile()
start = time.perf_counter()
profile.enable()
try:
    code = main(args)
finally:
    profile.disable()
total_ms = (time.perf_counter() - start) * 1000
rows = []
for (path, line, func), (cc, nc, tt, ct, callers) in pstats.Stats(profile).stats.items():
    keep = "trigger_schedule" in path or func in ("run", "entry_points", "request") and (
        path.endswith(("subprocess.py", "metadata/__init__.py", "sessions.py")))
    if keep:
        short = path.split("/trigger_schedule/")[-1] if "trigger_schedule" in path else os.path.basename(path)
        rows.append([func, f"{short}:{line}", nc, ct * 1000])
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"total_ms": total_ms, "code": code, "rows": rows}, handle)
"""

# Runs `python -m trigger_schedule ...` recording, for each module first imported by an import
# statement, the file:line of that statement. Written as JSON to the file named by argv[1].
IMPORT_HOOK = r"""
import builtins, json, runpy, sys
out, sys.argv = sys.argv[1], ["trigger-schedule", *sys.argv[2:]]
seen = {}
real_import = builtins.__import__
def hook(name, globals=None, locals=None, fromlist=(), level=0):
    full = name
    if level and globals:
        pkg = (globals.get("__package__") or "").rsplit(".", level - 1)[0]
        full = f"{pkg}.{name}" if name else pkg
    wanted = [full, *(f"{full}.{item}" for item in fromlist or () if item != "*")]
    missing = [m for m in wanted if m not in sys.modules and m not in seen]
    frame = sys._getframe(1)
    where = f"{frame.f_globals.get('__name__', '?')}:{frame.f_lineno}"
    scope = frame.f_code.co_name
    result = real_import(name, globals, locals, fromlist, level)
    for module in missing:  # from-imports of submodules count; plain attributes do not
        if module in sys.modules and module not in seen:
            seen[module] = [where, scope]
    return result
builtins.__import__ = hook
code = 0
try:
    runpy.run_module("trigger_schedule", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
finally:
    builtins.__import__ = real_import
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(seen, handle)
sys.exit(code)
"""


# --------------------------------------------------------------------------------------- helpers


def venv_tool(name: str) -> str:
    path = VENV_BIN / name
    return str(path) if path.exists() else (shutil.which(name) or name)


def clean_env() -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    removed: list[str] = []
    for key, value in os.environ.items():
        if key in STRIP_EXACT or key.startswith(STRIP_PREFIXES):
            removed.append(key)
        else:
            env[key] = value
    return env, sorted(removed)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def first_line(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unavailable"
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else "unavailable"


def http(method: str, url: str, timeout: float = 2.0) -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # 127.0.0.1 only
        status: int = response.status
        return status


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def reset(self) -> None:
        http("POST", f"{self.url}/_admin/reset")


@contextlib.contextmanager
def scheduler(workdir: Path) -> Iterator[Server]:
    port_file = workdir / "port"
    log = workdir / "server.log"
    argv = [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", "0"]
    argv += ["--port-file", str(port_file), "--token", TOKEN, "--max-lifetime", str(SERVER_MAX_LIFETIME_S)]
    with open(log, "wb") as log_handle:
        proc = subprocess.Popen(argv, stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        url = ""
        while time.monotonic() < deadline:  # bounded by the deadline
            if proc.poll() is not None:
                raise RuntimeError(f"scheduler exited with {proc.returncode}: {log.read_text()[-2000:]}")
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text:
                url = f"http://127.0.0.1:{int(text)}"
                with contextlib.suppress(OSError):
                    if http("GET", f"{url}/healthz") == 200:
                        break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"scheduler not healthy within {SERVER_START_TIMEOUT_S}s")
        yield Server(proc, url, log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=SERVER_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=SERVER_STOP_GRACE_S)


# -------------------------------------------------------------------------------------- commands


def trigger_args(url: str) -> list[str]:
    args = ["trigger", "--url", url, "--job", JOB]
    for key, value in PARAMS:
        args += ["--param", f"{key}={value}"]
    return [*args, "--no-wait", "--force-new"]


def command_a(url: str) -> list[str]:
    return [venv_tool("trigger-schedule"), *trigger_args(url)]


def command_b(url: str, key: str) -> list[str]:
    body = json.dumps({"jobName": JOB, "parameters": dict(PARAMS)}, separators=(",", ":"))
    return [
        "curl", "-sS", "-X", "POST",
        "-H", "Content-Type: application/json",
        "-H", f"Authorization: Bearer {TOKEN}",
        "-H", f"Idempotency-Key: {key}",
        "-d", body,
        f"{url}/v1/jobs/trigger",
    ]  # fmt: skip


A_RUN_ID = re.compile(r"triggered run (\S+)")


@dataclass
class Case:
    label: str
    cwd: Path
    samples: list[float] = field(default_factory=list)  # milliseconds, measured rounds only


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return elapsed_ms, proc.stdout


def timed_any(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> float:
    """Milliseconds for a command whose exit status does not matter (a git probe outside a repo fails)."""
    start = time.perf_counter()
    subprocess.run(list(argv), cwd=cwd, env=dict(env), capture_output=True, timeout=RUN_TIMEOUT_S, check=False)
    return (time.perf_counter() - start) * 1000.0


def run_id_of_a(stdout: str) -> str:
    match = A_RUN_ID.search(stdout)
    if not match:
        raise RuntimeError(f"trigger-schedule printed no run id:\n{stdout}")
    return match.group(1)


def run_id_of_b(stdout: str) -> str:
    run_id = json.loads(stdout).get("runId")
    if not run_id:
        raise RuntimeError(f"curl got no runId:\n{stdout}")
    return str(run_id)


# -------------------------------------------------------------------------------- peak RSS (KB)


def max_rss_kb(argv: Sequence[str], cwd: Path, env: Mapping[str, str], workdir: Path) -> int:
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        report = workdir / "time-v.txt"
        proc = subprocess.run(
            [str(gnu_time), "-v", "-o", str(report), *argv],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} exited {proc.returncode}: {proc.stderr!r}")
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read_text())
        if not match:
            raise RuntimeError("no 'Maximum resident set size' in /usr/bin/time -v output")
        return int(match.group(1))
    # Fallback: wait4() the child ourselves; ru_maxrss is in KB on Linux.
    child = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded by the deadline
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                raise RuntimeError(f"{shlex.join(argv)} exited {child.returncode}")
            return int(usage.ru_maxrss)
        time.sleep(0.002)
    child.kill()
    child.wait(timeout=SERVER_STOP_GRACE_S)
    raise RuntimeError(f"{shlex.join(argv)} did not finish within {RUN_TIMEOUT_S}s")


# ------------------------------------------------------------------------------ import analysis


@dataclass
class ImportLine:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: str  # the module whose import caused this one ("" at top level)


def parse_importtime(stderr: str) -> list[ImportLine]:
    pattern = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
    rows: list[tuple[str, int, int, int]] = []
    for line in stderr.splitlines():
        match = pattern.match(line)
        if match:
            rows.append((match.group(4), int(match.group(1)), int(match.group(2)), (len(match.group(3)) - 1) // 2))
    # -X importtime prints a module after everything it imported, one level less indented.
    out: list[ImportLine] = []
    for i, (name, self_us, cumulative_us, depth) in enumerate(rows):
        parent = ""
        if depth > 0:
            for later in rows[i + 1 :]:  # bounded by the number of lines
                if later[3] < depth:
                    parent = later[0]
                    break
        out.append(ImportLine(name, self_us, cumulative_us, depth, parent))
    return out


def median_imports(runs: Sequence[list[ImportLine]]) -> list[ImportLine]:
    """The first run's tree, with each module's self and cumulative times the median over all runs."""
    self_us: dict[str, list[int]] = {}
    cumulative_us: dict[str, list[int]] = {}
    for run in runs:
        for item in run:
            self_us.setdefault(item.name, []).append(item.self_us)
            cumulative_us.setdefault(item.name, []).append(item.cumulative_us)
    return [
        ImportLine(
            i.name,
            int(statistics.median(self_us[i.name])),
            int(statistics.median(cumulative_us[i.name])),
            i.depth,
            i.parent,
        )
        for i in runs[0]
    ]


def stdlib_names() -> frozenset[str]:
    return frozenset(getattr(sys, "stdlib_module_names", ()))


def group_of(module: str, stdlib: frozenset[str]) -> str:
    top = module.split(".")[0]
    if top == "trigger_schedule":
        return "trigger_schedule"
    if top in stdlib or top.startswith("_"):
        return "stdlib"
    return top


def importer_module(item: ImportLine, importers: Mapping[str, Sequence[str]]) -> str:
    record = importers.get(item.name)
    if record:
        return record[0].rsplit(":", 1)[0]
    return item.parent


def describe_importer(item: ImportLine, importers: Mapping[str, Sequence[str]]) -> str:
    record = importers.get(item.name)
    if record:
        where, scope = record[0], record[1]
        how = "module level" if scope == "<module>" else f"lazy, in `{scope}()`"
        return f"`{where}` ({how})"
    if item.parent:
        return f"(loaded inside `{item.parent}`)"
    return "(top level)"


def import_chain(
    item: ImportLine, importers: Mapping[str, Sequence[str]], by_name: Mapping[str, ImportLine]
) -> list[str]:
    """`a.f() (lazy)` → `b` → ... → `item`: who made whom import, back to the last lazy import."""
    steps = [f"`{item.name}`"]
    current: Optional[ImportLine] = item
    for _ in range(30):  # bounded; import chains are short
        if current is None:
            break
        record = importers.get(current.name)
        parent = record[0].rsplit(":", 1)[0] if record else current.parent
        if not parent:
            break
        if record and record[1] != "<module>":
            steps.append(f"`{parent}.{record[1]}()` (lazy)")
            break
        steps.append(f"`{parent}`")
        current = by_name.get(parent)
    return list(reversed(steps))


# ---------------------------------------------------------------------------------------- report


@dataclass
class Stats:
    median: float
    p90: float
    minimum: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        return cls(statistics.median(values), percentile(values, 0.9), min(values), len(values))


def fmt_ms(value: float) -> str:
    return f"{value:.1f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def machine_facts(python: str) -> list[tuple[str, str]]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 0
    head = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    package = ROOT / "python" / "src" / "trigger_schedule"
    sources = sorted(package.rglob("*.py"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:12]
    status = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(ROOT), "status", "--porcelain", "--", str(package)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    changed = len(status.stdout.splitlines()) if status.returncode == 0 else "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        ("date (UTC)", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
        ("nproc", f"{affinity} (os.cpu_count() = {os.cpu_count()})"),
        ("CPU", cpu),
        ("load average at start", load),
        ("OS", platform.platform()),
        ("Python (trigger-schedule's venv)", first_line([python, "-VV"])),
        ("curl", first_line(["curl", "--version"])),
        ("git", first_line(["git", "--version"])),
        ("repository HEAD", head),
        (
            "package measured",
            f"{len(sources)} .py files under python/src/trigger_schedule, sha256 {digest}; "
            f"{changed} uncommitted path(s) there",
        ),
        ("RSS tool", "/usr/bin/time -v" if Path("/usr/bin/time").exists() else "os.wait4() ru_maxrss"),
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up rounds, not measured (default 3)")
    parser.add_argument("--rss-runs", type=int, default=10, help="peak-RSS runs per directory (default 10)")
    parser.add_argument("--write", action="store_true", help=f"also write the report to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 1000 and 0 <= args.warmup <= 100 and 1 <= args.rss_runs <= 200):
        parser.error("rounds must be 1..1000, warmup 0..100, rss-runs 1..200")

    started = time.perf_counter()
    env, removed = clean_env()
    env_a = {**env, "TRIGGER_SCHEDULE_TOKEN": TOKEN}
    python = venv_tool("python")
    facts = machine_facts(python)

    with tempfile.TemporaryDirectory(prefix="bench-trigger-") as tmp_name:
        tmp = Path(tmp_name)
        nogit = tmp / "nogit"
        nogit.mkdir()
        if subprocess.run(["git", "-C", str(nogit), "rev-parse"], capture_output=True, check=False).returncode == 0:
            raise RuntimeError(f"{nogit} is inside a git repository; set TMPDIR elsewhere")
        with scheduler(tmp) as server:
            report = measure(args, server, env, env_a, python, nogit, tmp, facts, removed)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    report += (
        f"\n_Benchmark wall time: {time.perf_counter() - started:.0f} s; load average at the end: {load} "
        f"(other work on this {os.cpu_count()}-CPU machine shows up as spread in p90)._\n"
    )
    print(report)
    if args.write:
        RESULTS.write_text(report, encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


def measure(
    args: argparse.Namespace,
    server: Server,
    env: Mapping[str, str],
    env_a: Mapping[str, str],
    python: str,
    nogit: Path,
    tmp: Path,
    facts: list[tuple[str, str]],
    removed: list[str],
) -> str:
    url = server.url
    server.reset()
    cmd_a = command_a(url)

    # ---- import analysis first: it also tells the startup ladder which modules a real run loads.
    # One discarded warm-up run, then the per-module median over IMPORTTIME_RUNS runs.
    runs: list[list[ImportLine]] = []
    for _ in range(IMPORTTIME_RUNS + 1):
        proc = subprocess.run(
            [python, "-X", "importtime", "-m", "trigger_schedule", *trigger_args(url)],
            cwd=nogit,
            env=env_a,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"-X importtime run failed: {proc.stderr[-3000:]}")
        runs.append(parse_importtime(proc.stderr))
    imports = median_imports(runs[1:])
    hook_out = tmp / "importers.json"
    proc = subprocess.run(
        [python, "-c", IMPORT_HOOK, str(hook_out), *trigger_args(url)],
        cwd=nogit,
        env=env_a,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"import-hook run failed: {proc.stderr[-3000:]}")
    importers: dict[str, list[str]] = json.loads(hook_out.read_text())

    loaded = sorted({i.name for i in imports if i.depth == 0 and "__main__" not in i.name})
    ladder = [
        ("S0 `python -c pass`", [python, "-c", "pass"]),
        ("S1 `python -c 'import trigger_schedule.cli'`", [python, "-c", "import trigger_schedule.cli"]),
        (
            "S1r `python -c 'import trigger_schedule.cli, requests'` (a floor while requests stays)",
            [python, "-c", "import trigger_schedule.cli, requests"],
        ),
        (
            f"S2 `python -c 'import …'` (the {len(loaded)} top-level imports of a real run)",
            [python, "-c", "import " + ", ".join(loaded)],
        ),
    ]

    # ---- interleaved timing: A(tmp), B, A(repo), B, then the ladder, every round
    a_tmp = Case("A trigger-schedule (temp dir, no git)", nogit)
    a_repo = Case("A trigger-schedule (in the git checkout)", ROOT)
    curl = Case("B curl", nogit)
    steps = [Case(label, nogit) for label, _ in ladder]
    pairs_tmp: list[float] = []
    pairs_repo: list[float] = []
    pairs_git: list[float] = []  # A(checkout) - A(temp dir) in the same round
    run_ids: set[str] = set()
    total_runs = 0

    def fresh(run_id: str) -> None:
        if run_id in run_ids:
            raise RuntimeError(f"run {run_id} was replayed; every request must start a new run")
        run_ids.add(run_id)

    for round_no in range(args.warmup + args.rounds):
        measured = round_no >= args.warmup
        if round_no == args.warmup:
            server.reset()
            run_ids.clear()
        ms_a1, out = timed(cmd_a, a_tmp.cwd, env_a)
        fresh(run_id_of_a(out))
        ms_b1, out = timed(command_b(url, f"bench-{uuid.uuid4()}"), curl.cwd, env)
        fresh(run_id_of_b(out))
        ms_a2, out = timed(cmd_a, a_repo.cwd, env_a)
        fresh(run_id_of_a(out))
        ms_b2, out = timed(command_b(url, f"bench-{uuid.uuid4()}"), curl.cwd, env)
        fresh(run_id_of_b(out))
        step_ms = [timed(argv, nogit, env)[0] for _, argv in ladder]
        total_runs += 4
        if measured:
            a_tmp.samples.append(ms_a1)
            a_repo.samples.append(ms_a2)
            curl.samples += [ms_b1, ms_b2]
            pairs_tmp.append(ms_a1 - ms_b1)
            pairs_repo.append(ms_a2 - ms_b2)
            pairs_git.append(ms_a2 - ms_a1)
            for case, ms in zip(steps, step_ms):
                case.samples.append(ms)

    # ---- peak RSS
    rss_tmp = [max_rss_kb(cmd_a, nogit, env_a, tmp) / 1024 for _ in range(args.rss_runs)]
    rss_repo = [max_rss_kb(cmd_a, ROOT, env_a, tmp) / 1024 for _ in range(args.rss_runs)]
    rss_curl = [max_rss_kb(command_b(url, f"bench-{uuid.uuid4()}"), nogit, env, tmp) / 1024 for _ in range(3)]
    rss_python = [max_rss_kb([python, "-c", "pass"], nogit, env, tmp) / 1024 for _ in range(3)]
    rss_imports = [max_rss_kb(ladder[-1][1], nogit, env, tmp) / 1024 for _ in range(3)]

    git_execs = count_git_execs(cmd_a, env_a)
    profiles = []
    for n in range(PROFILE_RUNS):
        prof_out = tmp / f"profile-{n}.json"
        real = [m for m in loaded if m not in ("runpy", "site") and "__main__" not in m]
        timed([python, "-c", PROFILE_RUN, str(prof_out), ",".join(real), *trigger_args(url)], nogit, env_a)
        profiles.append(json.loads(prof_out.read_text()))
    profiles.sort(key=lambda prof: float(prof["total_ms"]))
    profile = profiles[len(profiles) // 2]  # the run with the median total
    probe = ["git", "rev-parse", "--show-toplevel"]
    git_probe = {
        where: [timed_any(probe, cwd, env) for _ in range(10)]
        for where, cwd in (("temp dir", nogit), ("checkout", ROOT))
    }

    return render(
        args=args,
        url=url,
        python=python,
        facts=facts,
        removed=removed,
        cases=[a_tmp, a_repo, curl],
        steps=steps,
        pairs_tmp=pairs_tmp,
        pairs_repo=pairs_repo,
        pairs_git=pairs_git,
        rss={
            "A (temp dir, no git)": rss_tmp,
            "A (git checkout)": rss_repo,
            "B curl": rss_curl,
            "`python -c pass`": rss_python,
            "S2 (all imports, no work)": rss_imports,
        },
        imports=imports,
        importers=importers,
        git_execs=git_execs,
        git_probe=git_probe,
        profile=profile,
        loaded=loaded,
    )


def count_git_execs(cmd_a: Sequence[str], env_a: Mapping[str, str]) -> dict[str, Optional[int]]:
    """How many `git` processes one run starts, per directory (None when strace is unavailable)."""
    strace = shutil.which("strace")
    out: dict[str, Optional[int]] = {}
    for label, cwd in (("temp dir", None), ("git checkout", ROOT)):
        if strace is None:
            out[label] = None
            continue
        with tempfile.TemporaryDirectory(prefix="bench-strace-") as scratch:
            trace = Path(scratch) / "trace"
            where = cwd if cwd is not None else Path(scratch)
            proc = subprocess.run(
                [strace, "-f", "-qq", "-e", "trace=execve", "-o", str(trace), *cmd_a],
                cwd=where,
                env=dict(env_a),
                capture_output=True,
                timeout=RUN_TIMEOUT_S,
                check=False,
            )
            if proc.returncode != 0 or not trace.exists():
                out[label] = None
                continue
            execs = [line for line in trace.read_text().splitlines() if "execve(" in line and "= 0" in line]
            out[label] = sum(1 for line in execs if re.search(r'execve\("[^"]*/git"', line))
    return out


def render(
    *,
    args: argparse.Namespace,
    url: str,
    python: str,
    facts: list[tuple[str, str]],
    removed: list[str],
    cases: list[Case],
    steps: list[Case],
    pairs_tmp: list[float],
    pairs_repo: list[float],
    pairs_git: list[float],
    rss: dict[str, list[float]],
    imports: list[ImportLine],
    importers: dict[str, list[str]],
    git_execs: dict[str, Optional[int]],
    git_probe: dict[str, list[float]],
    profile: dict[str, Any],
    loaded: list[str],
) -> str:
    a_tmp, a_repo, curl = cases
    st = {case.label: Stats.of(case.samples) for case in [*cases, *steps]}
    s_tmp, s_repo, s_curl = st[a_tmp.label], st[a_repo.label], st[curl.label]
    over_tmp = Stats.of(pairs_tmp)
    over_repo = Stats.of(pairs_repo)
    rss_a = rss["A (temp dir, no git)"] + rss["A (git checkout)"]
    peak = max(rss_a)
    lines: list[str] = []
    add = lines.append

    add("# Benchmark: `trigger-schedule trigger --no-wait` vs `curl`\n")
    add(
        "Generated by `.venv/bin/python bench/bench_trigger.py --write` (from the repository root). "
        "Targets from the issue: **median overhead ≤ 100 ms over curl**, **peak RSS ≤ 50 MB**.\n"
    )
    add("## Verdict\n")
    add("| target | temp dir (no git) | git checkout |")
    add("|---|---|---|")
    add(
        f"| median overhead over curl ≤ {TARGET_OVERHEAD_MS:.0f} ms "
        f"| {fmt_ms(over_tmp.median)} ms — {verdict(over_tmp.median <= TARGET_OVERHEAD_MS)} "
        f"| {fmt_ms(over_repo.median)} ms — {verdict(over_repo.median <= TARGET_OVERHEAD_MS)} |"
    )
    add(
        f"| peak RSS ≤ {TARGET_RSS_MB:.0f} MB (max of {len(rss['A (temp dir, no git)'])} runs) "
        f"| {max(rss['A (temp dir, no git)']):.1f} MB — "
        f"{verdict(max(rss['A (temp dir, no git)']) <= TARGET_RSS_MB)} "
        f"| {max(rss['A (git checkout)']):.1f} MB — {verdict(max(rss['A (git checkout)']) <= TARGET_RSS_MB)} |"
    )
    add("")

    add("## Wall clock (ms)\n")
    add(
        f"{args.rounds} measured rounds after {args.warmup} warm-up rounds, interleaved in one run: "
        "A(temp dir), B, A(checkout), B, then the startup ladder S0, S1, S1r, S2. Each sample is "
        "`time.perf_counter()` around `subprocess.run()`; p90 is nearest-rank.\n"
    )
    add("| command | n | median | p90 | min |")
    add("|---|---:|---:|---:|---:|")
    for case in [*cases, *steps]:
        s = st[case.label]
        add(f"| {case.label} | {s.n} | {fmt_ms(s.median)} | {fmt_ms(s.p90)} | {fmt_ms(s.minimum)} |")
    add("")
    add("Overhead of A over B, paired per round (A minus the curl run right after it):\n")
    add("| A in | median A - B | p90 | min | median(A) - median(B) | ratio median(A) / median(B) |")
    add("|---|---:|---:|---:|---:|---:|")
    for label, over, s in (("temp dir (no git)", over_tmp, s_tmp), ("git checkout", over_repo, s_repo)):
        add(
            f"| {label} | **{fmt_ms(over.median)}** | {fmt_ms(over.p90)} | {fmt_ms(over.minimum)} "
            f"| {fmt_ms(s.median - s_curl.median)} | {s.median / s_curl.median:.1f}x |"
        )
    add("")

    s0, s1, s1r, s2 = (st[c.label] for c in steps)
    add("## Where A's time goes (medians)\n")
    add(
        "Differences of medians, and of minimums (on a busy machine the minimum is the better estimate "
        "of a fixed cost; a negative entry means noise exceeded the slice):\n"
    )
    add("| slice | ms (medians) | ms (minimums) | how it is measured |")
    add("|---|---:|---:|---|")

    def row(label: str, median: float, minimum: float, how: str) -> None:
        add(f"| {label} | {fmt_ms(median)} | {fmt_ms(minimum)} | {how} |")

    row("interpreter start (venv python, `site`)", s0.median, s0.minimum, "S0")
    row("importing `trigger_schedule.cli` (argparse etc.)", s1.median - s0.median, s1.minimum - s0.minimum, "S1 - S0")
    row(
        "importing the rest of what a run imports",
        s2.median - s1.median,
        s2.minimum - s1.minimum,
        "S2 - S1 (third-party dependencies, the rest of the package)",
    )
    row(
        "... of which `requests` (urllib3, charset_normalizer, idna, ...)",
        s1r.median - s1.median,
        s1r.minimum - s1.minimum,
        "S1r - S1",
    )
    row(
        "... of which everything else (jsonschema, yaml, importlib.metadata, cel, the package)",
        s2.median - s1r.median,
        s2.minimum - s1r.minimum,
        "S2 - S1r",
    )
    row(
        "the run's own work in the temp dir (parse, validate, git probes that fail, HTTP, output)",
        s_tmp.median - s2.median,
        s_tmp.minimum - s2.minimum,
        "A(tmp) - S2",
    )
    row(
        "extra in the git checkout (the same probes, succeeding)",
        statistics.median(pairs_git),
        s_repo.minimum - s_tmp.minimum,
        "A(checkout) - A(tmp); the median one paired per round",
    )
    row("the request itself, as curl does it", s_curl.median, s_curl.minimum, "B")
    counts = ", ".join(f"{k}: {'n/a' if v is None else v}" for k, v in git_execs.items())
    probe = ", ".join(f"{k}: {fmt_ms(statistics.median(v))} ms" for k, v in git_probe.items())
    add(
        f"\n`git` processes started by one run (strace execve): {counts}. One `git rev-parse --show-toplevel` "
        f"takes (median of {len(next(iter(git_probe.values())))}) {probe}.\n"
    )

    add(
        f"The run's own work, in-process: all imports done first, then the first `cli.main([...])` under "
        f"cProfile (the median of {PROFILE_RUNS} runs, temp dir): **{float(profile['total_ms']):.1f} ms** "
        "(cProfile inflates it a little). Largest cumulative entries:\n"
    )
    add("| function | where | calls | cumulative ms |")
    add("|---|---|---:|---:|")
    rows = sorted(profile["rows"], key=lambda row: float(row[3]), reverse=True)
    for func, where, calls, cum_ms in [r for r in rows if float(r[3]) >= 1.0][:14]:
        add(f"| `{func}` | `{where}` | {calls} | {float(cum_ms):.1f} |")
    add("")
    add("## Peak RSS (MB)\n")
    add("| process | runs | median | max |")
    add("|---|---:|---:|---:|")
    for label, values in rss.items():
        add(f"| {label} | {len(values)} | {statistics.median(values):.1f} | {max(values):.1f} |")
    add(f"\nPeak RSS over all {len(rss_a)} A runs: **{peak:.1f} MB**.\n")

    total_us = sum(i.self_us for i in imports)
    add("## Import breakdown of a real run\n")
    add(
        f"`python -X importtime -m trigger_schedule trigger ... --no-wait --force-new` in the temp dir: "
        f"{len(imports)} modules, {total_us / 1000:.1f} ms of import time in total (importtime's own "
        f"instrumentation inflates this a little; per-module median of {IMPORTTIME_RUNS} runs after a "
        'discarded warm-up). "imported by" is the '
        "`import` statement that first asked for the module (from a second run with an `__import__` "
        "hook), else the module importtime nests it under.\n"
    )
    by_name = {i.name: i for i in imports}
    add("Top 10 by cumulative time (nested entries overlap):\n")
    add("| # | module | cumulative ms | self ms | imported by |")
    add("|---:|---|---:|---:|---|")
    top = sorted(imports, key=lambda i: i.cumulative_us, reverse=True)
    shown = [i for i in top if i.name not in ("site", "encodings", "runpy")][:10]
    for n, item in enumerate(shown, 1):
        by = describe_importer(item, importers)
        add(f"| {n} | `{item.name}` | {item.cumulative_us / 1000:.1f} | {item.self_us / 1000:.1f} | {by} |")
    add("")
    add(
        "What `trigger_schedule` itself asks for outside its own package, by cumulative time (≥ 2 ms), with "
        "the chain of imports from the last lazy (function-level) import down to it — a module-level link "
        "in a chain is where an eager import could be made lazy:\n"
    )
    add("| module | cumulative ms | imported by | chain |")
    add("|---|---:|---|---|")
    direct = [
        i
        for i in top
        if not i.name.startswith("trigger_schedule")
        and importer_module(i, importers).startswith("trigger_schedule")
        and i.cumulative_us >= 2000
    ]
    for item in direct[:12]:
        chain = " → ".join(import_chain(item, importers, by_name))
        add(f"| `{item.name}` | {item.cumulative_us / 1000:.1f} | {describe_importer(item, importers)} | {chain} |")
    add("")
    stdlib = stdlib_names()
    groups: dict[str, tuple[int, int]] = {}
    for item in imports:
        key = group_of(item.name, stdlib)
        total, count = groups.get(key, (0, 0))
        groups[key] = (total + item.self_us, count + 1)
    add("Self time summed per top-level package (no overlap; third-party dependencies pull in stdlib too):\n")
    add("| package | modules | self ms | share |")
    add("|---|---:|---:|---:|")
    for key, (us, count) in sorted(groups.items(), key=lambda kv: kv[1][0], reverse=True)[:12]:
        add(f"| `{key}` | {count} | {us / 1000:.1f} | {100 * us / max(total_us, 1):.0f}% |")
    add("")

    add("## Commands\n")
    add(f"Scheduler: `{shlex.join([python, str(SERVER.relative_to(ROOT)), '--host', '127.0.0.1', '--port', '0'])}"
        f" --port-file F --token {TOKEN} --max-lifetime {SERVER_MAX_LIFETIME_S}` (URL below is {url}; "
        "stopped with SIGTERM, SIGKILL after 5 s).\n")  # fmt: skip
    add("```sh")
    add(f"# A (env TRIGGER_SCHEDULE_TOKEN={TOKEN}; cwd: a fresh temp dir, then the repository root)")
    add(shlex.join(command_a(url)))
    add("# B (a fresh Idempotency-Key per run)")
    add(shlex.join(command_b(url, "bench-<uuid4>")))
    add("# peak RSS")
    add("/usr/bin/time -v -o F <A>")
    add("# import breakdown")
    add(shlex.join([python, "-X", "importtime", "-m", "trigger_schedule", *trigger_args(url)]))
    add("# S2")
    add(f"{python} -c 'import {', '.join(loaded)}'")
    add("```\n")
    add(
        "Environment: the benchmark's own, minus CI-detecting variables (`CI`, `CI_*`, `GITHUB_*`, "
        "`GITLAB_*`, `JENKINS_*`, `GIT_*`, `RUNNER_*`, `TRIGGER_SCHEDULE_*`, Jenkins' `BRANCH_NAME` … "
        f"and `PYTHONPROFILEIMPORTTIME`-style tuning); removed here: {', '.join(removed) or 'none'}. "
        "Every response is checked: exit status 0 and a run id never seen before in the run "
        "(`--force-new` / a unique key, so nothing is replayed).\n"
    )
    add("## Machine\n")
    add("| fact | value |")
    add("|---|---|")
    for key, value in facts:
        add(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
