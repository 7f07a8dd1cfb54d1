"""Flows the Prefect tests and the lag bench trigger; run by the Prefect server's venv, not the project's.

`python prefect_flows.py` serves one deployment per flow, all named `ci` (Prefect 3 `serve`,
src/prefect/flows.py and src/prefect/runner/runner.py), and runs their flow runs as subprocesses.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

from prefect import flow, get_run_logger, serve


@flow(name="record")
def record(out: str, version: str = "", batch_size: int = 0, extra: Optional[dict[str, Any]] = None) -> str:
    """Writes what it received to `out`, so a test can check the parameters arrived with their types."""
    logger = get_run_logger()
    logger.info("record received version=%s batch_size=%s", version, batch_size)
    received = {"out": out, "version": version, "batch_size": batch_size, "extra": extra}
    Path(out).write_text(json.dumps(received), encoding="utf-8")
    logger.info("record wrote %s", out)
    return "ok"


@flow(name="fail")
def fail() -> None:
    get_run_logger().info("fail is about to raise")
    raise RuntimeError("this flow fails on purpose")


@flow(name="slow")
def slow(seconds: float = 120.0) -> None:
    """Sleeps `seconds` (the bench's job of a known length; the tests' run to cancel or time out)."""
    logger = get_run_logger()
    logger.info("slow sleeps %.1f s", seconds)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))
    logger.info("slow is done")


if __name__ == "__main__":
    serve(
        record.to_deployment(name="ci"),
        fail.to_deployment(name="ci"),
        slow.to_deployment(name="ci"),
    )
