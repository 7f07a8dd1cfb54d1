"""Airflow DAG: sync reference data into the warehouse after an application deploy.

Triggered by trigger-schedule (examples/.trigger-schedule.yml) with the deploy context in `dag_run.conf`:
environment, version, previousVersion, deployTime, batchSize, fullRefresh. The work is simulated (short
sleeps), but each step logs what a real sync would do, with the numbers it would use.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, get_current_context, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]

log = logging.getLogger(__name__)
TABLES = ["customers", "products", "price_lists", "warehouses"]


def _conf() -> dict:
    return dict(get_current_context()["dag_run"].conf or {})


with DAG(
    dag_id="data_sync_after_deployment",
    description="Sync reference data for the version just deployed",
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["deploy", "data-sync"],
):

    @task
    def plan_sync() -> dict:
        conf = _conf()
        environment = conf.get("environment", "staging")
        full = bool(conf.get("fullRefresh", False))
        log.info(
            "deploy of version %s (was %s) to %s at %s",
            conf.get("version", "?"),
            conf.get("previousVersion") or "-",
            environment,
            conf.get("deployTime", "?"),
        )
        mode = "full refresh" if full else "incremental"
        log.info("sync mode: %s (fullRefresh=%s), batch size %s", mode, full, conf.get("batchSize", 500))
        return {"environment": environment, "full": full, "batch": int(conf.get("batchSize", 500))}

    @task
    def sync_tables(plan: dict) -> None:
        rng = random.Random(plan["environment"])
        total = 0
        for table in TABLES:
            rows = rng.randint(800, 5000) if plan["full"] else rng.randint(20, 400)
            batches = -(-rows // plan["batch"])
            time.sleep(0.2)
            log.info("synced %-12s %5d rows in %d batch(es) to %s", table, rows, batches, plan["environment"])
            total += rows
        log.info("sync complete: %d rows across %d tables", total, len(TABLES))

    sync_tables(plan_sync())
