"""An Airflow DAG whose only task fails (no retries)."""

from __future__ import annotations

from datetime import datetime

from ts_compat import DAG, task

with DAG(dag_id="ts_fail", start_date=datetime(2024, 1, 1), schedule=None, catchup=False, tags=["test"]):

    @task(retries=0)
    def explode() -> None:
        raise RuntimeError("ts-failure: this task fails on purpose")

    explode()
