"""Airflow callbacks that tell cdp-triggers a data source was refreshed.

Copy this file next to your DAGs, set CDP_TRIGGERS_URL and CDP_TRIGGERS_KEY (an API key with
``--scope publish``) in the workers' environment, and put the callbacks on the task that loads
the source::

    load = PythonOperator(
        task_id="load_crm_contacts",
        python_callable=load_crm_contacts,
        params={"data_source_id": "crm-contacts", "data_source_name": "CRM contacts"},
        on_execute_callback=refresh_started,
        on_success_callback=refresh_succeeded,
        on_retry_callback=refresh_retrying,   # a failure Airflow retries: no trigger
        on_failure_callback=refresh_failed,   # the last try failed: "data source refresh failed"
    )

The standard library only: nothing to install on the Airflow workers. The event id is made from the
DAG run, task and try number, so a callback Airflow runs twice publishes the same event, and the
engine ignores the repeat.
"""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import UTC, datetime
from typing import Any


def refresh_started(context: dict[str, Any]) -> None:
    _post(datasource_event(context, "started"))


def refresh_succeeded(context: dict[str, Any]) -> None:
    _post(datasource_event(context, "succeeded"))


def refresh_retrying(context: dict[str, Any]) -> None:
    _post(datasource_event(context, "failed", will_retry=True))


def refresh_failed(context: dict[str, Any]) -> None:
    _post(datasource_event(context, "failed", will_retry=False))


def datasource_event(context: dict[str, Any], status: str, will_retry: bool = False) -> dict[str, Any]:
    """A data-source change event (``POST /v1/events/datasource``) from an Airflow task's context."""
    ti = context["task_instance"]
    params = context["params"]
    event: dict[str, Any] = {
        "event_id": f"airflow/{ti.dag_id}/{context['run_id']}/{ti.task_id}/{ti.try_number}/{status}",
        "event_time": datetime.now(UTC).isoformat(),
        "data_source_id": params["data_source_id"],
        "data_source_name": params.get("data_source_name", params["data_source_id"]),
        "refresh_run_id": f"{ti.dag_id}/{context['run_id']}",
        "status": status,
    }
    if status == "failed":
        error = context.get("exception")
        event["failure"] = {
            "code": type(error).__name__ if error is not None else "TaskFailed",
            "message": str(error or "the task failed")[:4000],
            "will_retry": will_retry,
        }
    return event


def _post(event: dict[str, Any]) -> None:
    request = urllib.request.Request(
        os.environ["CDP_TRIGGERS_URL"].rstrip("/") + "/v1/events/datasource",
        data=json.dumps(event).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": os.environ["CDP_TRIGGERS_KEY"]},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # 202: Kafka has it
        answer.read()
