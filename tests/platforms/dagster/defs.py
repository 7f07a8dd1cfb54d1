"""Dagster definitions the plug-in's tests and bench run against (loaded by `dagster dev -f`).

`record` writes the config it received to the file named by its `path`, so a test can read back
what the CLI sent; `fail` fails; `slow` sleeps `seconds` (default 60) in short steps.
"""

import json
import time
from pathlib import Path

from dagster import Definitions, Field, OpExecutionContext, Permissive, in_process_executor, job, op


@op(config_schema=Permissive({"path": Field(str)}))
def record_config(context: OpExecutionContext) -> None:
    config = dict(context.op_config)
    tags = dict(context.run.tags)
    Path(config["path"]).write_text(json.dumps({"config": config, "tags": tags}), encoding="utf-8")
    context.log.info(f"recorded config with keys {sorted(config)}")


@op
def explode(context: OpExecutionContext) -> None:
    context.log.info("about to fail on purpose")
    raise RuntimeError("this job fails on purpose")


@op(config_schema={"seconds": Field(float, default_value=60.0)})
def nap(context: OpExecutionContext) -> None:
    seconds = float(context.op_config["seconds"])
    context.log.info(f"sleeping {seconds} s")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    context.log.info("woke up")


# In-process: no subprocess per step, so a run takes ~2 s instead of ~5 s on a busy machine.
@job(executor_def=in_process_executor)
def record() -> None:
    record_config()


@job(executor_def=in_process_executor)
def fail() -> None:
    explode()


@job(executor_def=in_process_executor)
def slow() -> None:
    nap()


defs = Definitions(jobs=[record, fail, slow])
