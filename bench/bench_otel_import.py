"""Benchmark: what the `otel` extra costs a no-wait trigger's run, installed or not, configured or not.

Interleaved, round after round, against the generic reference server on 127.0.0.1 (tests/servers):

    core          a venv with the core only (no OpenTelemetry installed), OTEL_* unset
    extra         the project's .venv (the `otel` extra installed), OTEL_* unset
    extra+otlp    the same, OTEL_EXPORTER_OTLP_ENDPOINT set to an OTLP/HTTP receiver on 127.0.0.1
                  (tests/servers/receivers.py): the spans and metrics are really exported

each `python -m trigger_schedule trigger --no-wait ...` timed with time.perf_counter() around
subprocess.run(). The core venv is made once under .tools/bench-otel/ (`pip install -e python`, no
extra), and `-X importtime` tells, per case, how many opentelemetry modules were imported.

    .venv/bin/python bench/bench_otel_import.py            # print the Markdown report
    .venv/bin/python bench/bench_otel_import.py --write    # ... and write it to bench/RESULTS-otel.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers.harness import GenericScheduler  # noqa: E402
from servers.processes import serving  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-otel.md"
CORE_VENV = ROOT / ".tools" / "bench-otel" / "venv"
TOKEN = "bench-otel-token"
CASES = ("core", "extra", "extra+otlp")


def core_python() -> Path:
    """A venv with the project installed without the extra: no OpenTelemetry package in it at all."""
    python = CORE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CORE_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e",
                        str(ROOT / "python")], check=True, timeout=900)  # fmt: skip
    check = subprocess.run([str(python), "-c", "import opentelemetry"], capture_output=True, check=False)
    assert check.returncode != 0, "the core venv must not have opentelemetry"
    return python


def command(python: Path, server: GenericScheduler, *extra: str) -> list[str]:
    return [str(python), *extra, "-m", "trigger_schedule", "trigger", "--platform", "generic", "--url", server.url,
            "--job", "instant", "--no-wait", "--force-new"]  # fmt: skip


def environment(otlp: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACE", "GITHUB_", "CI", "GITLAB_"))}
    env["TRIGGER_SCHEDULE_TOKEN"] = TOKEN
    if otlp:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{argv}: exit {result.returncode}: {result.stderr[-500:]}")
    return took


def otel_modules(argv: list[str], env: dict[str, str], cwd: Path) -> int:
    python, rest = argv[0], argv[1:]
    result = subprocess.run([python, "-X", "importtime", *rest], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    return sum(1 for line in result.stderr.splitlines() if line.startswith("import time:") and "opentelemetry" in line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    core = core_python()
    work = ROOT / ".tools" / "bench-otel" / "work"
    receivers = ROOT / ".tools" / "bench-otel" / "receivers"
    work.mkdir(parents=True, exist_ok=True)
    receivers.mkdir(parents=True, exist_ok=True)
    ports = [receivers / "http.port", receivers / "smtp.port"]
    for stale in ports:
        stale.unlink(missing_ok=True)
    server = GenericScheduler.start(token=TOKEN)
    try:
        with serving(ROOT / "tests" / "servers" / "receivers.py", ["--dir", str(receivers)], ports) as (port, _):
            otlp = f"http://127.0.0.1:{port}"
            runs = {
                "core": (command(core, server), environment(None)),
                "extra": (command(Path(sys.executable), server), environment(None)),
                "extra+otlp": (command(Path(sys.executable), server), environment(otlp)),
            }
            for argv, env in runs.values():  # warm the file cache once
                timed(argv, env, work)
            samples: dict[str, list[float]] = {case: [] for case in CASES}
            for _ in range(args.rounds):
                for case in CASES:
                    samples[case].append(timed(*runs[case], work))
            modules = {case: otel_modules(*runs[case], work) for case in CASES}
            exported = (receivers / "received.jsonl").exists()
    finally:
        server.stop()
    report = render(samples, modules, exported, args.rounds)
    print(report)
    if args.write:
        RESULTS.write_text(report, encoding="utf-8")


def render(samples: dict[str, list[float]], modules: dict[str, int], exported: bool, rounds: int) -> str:
    medians = {case: statistics.median(values) * 1000 for case, values in samples.items()}
    lines = [
        "# The `otel` extra: start-up of a no-wait trigger",
        "",
        f"Made by `bench/bench_otel_import.py` ({rounds} rounds, the three cases interleaved in each) on "
        f"{datetime.now(timezone.utc):%Y-%m-%d}, {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}: `trigger-schedule trigger --no-wait` against the "
        "generic reference server on 127.0.0.1, wall time from spawn to exit.",
        "",
        "| case | median ms | min ms | max ms | vs core | opentelemetry modules imported |",
        "|---|---|---|---|---|---|",
    ]
    labels = {
        "core": "core only, OTEL unset",
        "extra": "extra installed, OTEL unset",
        "extra+otlp": "extra installed, OTLP endpoint set (exported)",
    }
    for case in CASES:
        values = [v * 1000 for v in samples[case]]
        delta = medians[case] - medians["core"]
        lines.append(
            f"| {labels[case]} | {medians[case]:.0f} | {min(values):.0f} | {max(values):.0f} | "
            f"{delta:+.0f} ms | {modules[case]} |"
        )
    lines += [
        "",
        f"The receiver {'got' if exported else 'did not get'} the exports of the configured case.",
        "",
        "With OTEL_* unset no opentelemetry module is imported, installed or not: the two unset cases run the same",
        "code, in venvs that differ only in what else is installed (the .venv has the test tools too), so their",
        "difference is the machine's noise. With an endpoint set, the run pays for importing the SDK and the",
        "OTLP exporter and for one export of the spans and one of the metrics at its end (bounded at 5 s).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
