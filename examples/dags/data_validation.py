"""Airflow DAG: check the data the new version depends on (row counts, freshness, referential integrity).

Reads `environment`, `version` and `maxStalenessMinutes` from `dag_run.conf`; fails if a check fails. The
numbers are simulated, and pass.
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


with DAG(
    dag_id="data_validation",
    description="Validate data after a deploy",
    start_date=datetime(2024, 1, 1),
    schedule=None,
    catchup=False,
    tags=["deploy", "quality"],
):

    @task
    def validate() -> None:
        conf = dict(get_current_context()["dag_run"].conf or {})
        limit = int(conf.get("maxStalenessMinutes", 60))
        checks = [
            ("orders row count within 5% of yesterday", True),
            (f"customers refreshed less than {limit} min ago", True),
            ("every order line references a product", True),
            ("no negative prices", True),
        ]
        log.info("validating %s data for version %s", conf.get("environment", "staging"), conf.get("version", "?"))
        failed = []
        for name, passed in checks:
            time.sleep(0.1)
            log.info("check %-45s %s", name, "PASS" if passed else "FAIL")
            if not passed:
                failed.append(name)
        if failed:
            raise ValueError(f"{len(failed)} data check(s) failed: {', '.join(failed)}")
        log.info("all %d checks passed", len(checks))

    validate()
