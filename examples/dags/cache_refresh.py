"""Airflow DAG: invalidate and re-warm the application caches for the version just deployed.

Reads `environment`, `version` and `regions` (a list) from `dag_run.conf`. The work is simulated.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, get_current_context, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]

log = logging.getLogger(__name__)
KEYSPACES = ["catalog:*", "prices:*", "search:facets:*"]


with DAG(
    dag_id="cache_refresh",
    description="Invalidate and re-warm caches after a deploy",
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["deploy", "cache"],
):

    @task
    def refresh_caches() -> None:
        conf = dict(get_current_context()["dag_run"].conf or {})
        environment, version = conf.get("environment", "staging"), conf.get("version", "?")
        for region in conf.get("regions") or ["eu-west-1"]:
            for keyspace in KEYSPACES:
                time.sleep(0.1)
                log.info("[%s/%s] invalidated %s (version %s)", environment, region, keyspace, version)
            log.info("[%s/%s] warmed the top 500 catalog pages", environment, region)
        log.info("caches refreshed for version %s", version)

    refresh_caches()
