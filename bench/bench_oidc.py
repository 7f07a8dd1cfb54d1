"""Benchmark: what keyless auth costs a run, side by side with a stored bearer token.

Against the generic reference server (tests/servers/generic_scheduler.py) and the test CI issuer
(tests/servers/ci_issuer.py) on 127.0.0.1, interleaved round after round, one `trigger-schedule trigger` of the
`instant` job each:

    bearer     a stored token (the server compares it)
    oidc       the ID token from GitHub's request endpoint (one extra GET; the server verifies RS256 via JWKS)
    exchange   that ID token traded at the issuer's RFC 8693 endpoint (one more POST)

and, in process, the auth hook's cost per request (oidc.RefreshingCredential on a prepared request).

    .venv/bin/python bench/bench_oidc.py            # print the Markdown report
    .venv/bin/python bench/bench_oidc.py --write    # ... and write bench/RESULTS-oidc.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "python" / "src")]

import requests  # noqa: E402
from cli_runner import clean_env, github_env  # noqa: E402
from servers.harness import GenericScheduler  # noqa: E402
from servers.oidc_parts import EXCHANGE_AUDIENCE, EXCHANGE_CLIENT, EXCHANGE_FROM, ci_issuer  # noqa: E402
from trigger_schedule.clock import SystemClock  # noqa: E402
from trigger_schedule.oidc import RefreshingCredential, Token  # noqa: E402


def _run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "trigger_schedule", *args], env=clean_env(env), capture_output=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout.decode() + done.stderr.decode())
    return time.perf_counter() - started


def _hook_cost(samples: int) -> float:
    clock = SystemClock()
    credential = RefreshingCredential(lambda: Token("t" * 800, None), clock, "hint")
    request = requests.Request("GET", "http://127.0.0.1/x", headers={"Authorization": "Bearer " + "t" * 800})
    prepared = request.prepare()
    started = time.perf_counter()
    for _ in range(samples):
        credential(prepared)
    return (time.perf_counter() - started) / samples


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    timings: dict[str, list[float]] = {"bearer": [], "oidc": [], "exchange": []}
    with ci_issuer() as issuer, GenericScheduler.start(token="bench-token-0123") as server:
        base = ["trigger", "--url", server.url, "--job", "instant", "--poll-interval", "100ms", "--force-new"]
        exchange = {"token-url": f"{issuer.url}/token", "client-id-env": "EX_ID", "client-secret-env": "EX_SECRET"}
        cases = {
            "bearer": (base, {"TRIGGER_SCHEDULE_TOKEN": "bench-token-0123"}, None),
            "oidc": ([*base, "--auth-type", "oidc", "--oidc-audience", EXCHANGE_AUDIENCE], {}, EXCHANGE_AUDIENCE),
            "exchange": (
                [*base, "--auth-type", "oidc-exchange", "--oidc-audience", EXCHANGE_FROM, "--oidc-exchange",
                 json.dumps(exchange)],
                {"EX_ID": EXCHANGE_CLIENT[0], "EX_SECRET": EXCHANGE_CLIENT[1]},
                EXCHANGE_AUDIENCE,
            ),
        }  # fmt: skip
        for _ in range(args.rounds):
            for name, (cli_args, extra, audience) in cases.items():
                server.configure(oidc=None if audience is None else {"issuers": [issuer.url], "audience": audience})
                env = {**github_env(), **issuer.github_env(), "TRIGGER_SCHEDULE_TOKEN": "", **extra}
                timings[name].append(_run(cli_args, env))
    hook = _hook_cost(20000)
    lines = [
        "# Keyless auth: cost per run",
        "",
        f"`bench/bench_oidc.py`, {args.rounds} rounds interleaved, on {platform.node() or 'this machine'} "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}), all on 127.0.0.1.",
        "A run is one `trigger-schedule trigger` of the generic server's `instant` job, process start included.",
        "",
        "| auth | median run (s) | min (s) | max (s) | vs bearer |",
        "|---|---|---|---|---|",
    ]
    bearer = statistics.median(timings["bearer"])
    for name, values in timings.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {median - bearer:+.3f} s |")
    lines += ["", f"The auth hook, per request (in process, 20000 calls): {hook * 1e6:.1f} µs.", ""]
    report = "\n".join(lines)
    print(report)
    if args.write:
        (ROOT / "bench" / "RESULTS-oidc.md").write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
