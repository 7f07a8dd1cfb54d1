"""A quick DAG that succeeds and records what it received, so tests can check the parameters.

It writes `{"conf": dag_run.conf, "run_id": ..., "note_seen": ...}` as JSON to the path given in the conf
key `record_to`, else in the env var TS_AIRFLOW_RECORD_DIR (one file per run id).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

from ts_compat import DAG, get_current_context, task

log = logging.getLogger(__name__)

with DAG(dag_id="ts_success", start_date=datetime(2024, 1, 1), schedule=None, catchup=False, tags=["test"]):

    @task
    def record() -> None:
        context = get_current_context()
        dag_run = context["dag_run"]
        conf = dict(dag_run.conf or {})
        target = conf.get("record_to")
        if not target and os.environ.get("TS_AIRFLOW_RECORD_DIR"):
            target = str(Path(os.environ["TS_AIRFLOW_RECORD_DIR"]) / f"{dag_run.run_id}.json")
        log.info("ts-marker: received conf with keys %s for %s", sorted(conf), conf.get("marker", "-"))
        if target:
            Path(target).write_text(json.dumps({"conf": conf, "run_id": dag_run.run_id}), encoding="utf-8")
            log.info("recorded the conf to %s", target)

    record()
