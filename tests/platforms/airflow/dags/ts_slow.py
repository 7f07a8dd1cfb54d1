"""A slow Airflow DAG: one task that logs a line per second for `seconds` seconds (conf, default 60)."""

from __future__ import annotations

import logging
import time
from datetime import datetime

from ts_compat import DAG, get_current_context, task

log = logging.getLogger(__name__)

with DAG(dag_id="ts_slow", start_date=datetime(2024, 1, 1), schedule=None, catchup=False, tags=["test"]):

    @task(retries=0)
    def crawl() -> None:
        conf = get_current_context()["dag_run"].conf or {}
        seconds = max(0, min(int(conf.get("seconds", 60)), 600))
        for step in range(seconds):
            log.info("ts-slow: step %d of %d", step + 1, seconds)
            time.sleep(1)

    crawl()
