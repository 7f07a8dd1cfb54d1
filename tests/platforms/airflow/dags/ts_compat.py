"""Imports that differ between Airflow 2 (airflow.decorators) and Airflow 3 (airflow.sdk), for the test DAGs.

Not a DAG itself: the DAG processor skips files that do not mention both words it looks for.
"""

from __future__ import annotations

try:  # Airflow 3
    from airflow.sdk import DAG, get_current_context, task
except ImportError:  # Airflow 2
    from airflow import DAG  # type: ignore[no-redef]
    from airflow.decorators import task  # type: ignore[no-redef]
    from airflow.operators.python import get_current_context  # type: ignore[no-redef]

__all__ = ["DAG", "get_current_context", "task"]
