"""The producer examples in examples/ (an Airflow callback, a dbt run_results.json script) make events the API
accepts; the dbt one, run against the real API and worker, fires "full refresh completed"."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace

import pytest
from pydantic import TypeAdapter

from devtools.processes import ROOT
from schemas.events import DataSourceChange
from schemas.ingest import BatchItem
from schemas.triggers import TriggerEvent, TriggerType

BATCH: TypeAdapter[list[BatchItem]] = TypeAdapter(list[BatchItem])


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_results(statuses: dict[str, str]) -> dict:
    """A run_results.json as dbt writes it (the fields the script reads, and a test and a source it skips)."""
    results = [
        {
            "unique_id": unique_id,
            "status": status,
            "message": "Database Error: relation missing" if status == "error" else "SELECT 42",
            "timing": [{"name": "execute", "completed_at": "2026-12-04T02:10:00.5Z"}],
        }
        for unique_id, status in statuses.items()
    ]
    return {
        "metadata": {"invocation_id": "9f2c", "generated_at": "2026-12-04T02:11:00Z"},
        "elapsed_time": 120.5,
        "results": results,
    }


NIGHTLY = {
    "model.shop.customers": "success",
    "model.shop.orders": "error",
    "model.shop.revenue": "skipped",
    "test.shop.not_null_customers_id": "pass",
}


def test_the_dbt_script_declares_each_model_and_reports_how_it_ended():
    items = BATCH.validate_python(example("dbt_run_results").run_events(run_results(NIGHTLY)))
    started, *progress = (item.event for item in items)
    assert [t.name for t in started.tasks] == ["model.shop.customers", "model.shop.orders", "model.shop.revenue"]
    assert [(p.task.name, p.status) for p in progress] == [
        ("model.shop.customers", "succeeded"),
        ("model.shop.orders", "failed"),
        ("model.shop.revenue", "skipped"),
    ]
    assert started.event_time < progress[0].event_time and len({i.event.event_id for i in items}) == 4


def test_the_airflow_callbacks_make_valid_datasource_events_with_stable_ids():
    airflow = example("airflow_callbacks")
    ti = SimpleNamespace(dag_id="crm_nightly", task_id="load_crm", try_number=2)
    context = {
        "task_instance": ti,
        "run_id": "scheduled__2026-12-04T02:00:00+00:00",
        "params": {"data_source_id": "crm-contacts", "data_source_name": "CRM contacts"},
        "exception": TimeoutError("extract took over 1 h"),
    }
    final = DataSourceChange.model_validate(airflow.datasource_event(context, "failed"))
    assert final.failure is not None and final.failure.code == "TimeoutError" and not final.failure.will_retry
    retried = DataSourceChange.model_validate(airflow.datasource_event(context, "failed", will_retry=True))
    assert retried.failure is not None and retried.failure.will_retry
    assert final.event_id == airflow.datasource_event(context, "failed")["event_id"]  # the same call, the same id
    ok = DataSourceChange.model_validate(airflow.datasource_event(context, "succeeded"))
    assert ok.failure is None and ok.event_time <= datetime.now(UTC)


@pytest.mark.broker
@pytest.mark.subprocess
def test_the_dbt_script_posted_to_the_api_fires_full_refresh_completed_once(
    settings, kafka, worker, tmp_path, monkeypatch
):
    from tests.support.api import api_settings, start_api

    dbt = example("dbt_run_results")
    s = api_settings(settings)
    process, api = start_api(s, tmp_path / "api.log", key_scope="publish")
    try:
        monkeypatch.setenv("CDP_TRIGGERS_URL", api.base)
        monkeypatch.setenv("CDP_TRIGGERS_KEY", api.key)
        events = dbt.run_events(run_results(NIGHTLY))
        dbt.post(events)
        dbt.post(events)  # the job was retried: the same file again
        fired = [TriggerEvent.model_validate_json(m.value()) for m in kafka.read(worker.topics.actions, until=1)]
        fired += [TriggerEvent.model_validate_json(m.value()) for m in kafka.read(worker.topics.actions, idle=4)][1:]
        assert [e.type for e in fired] == [TriggerType.FULL_REFRESH_COMPLETED], [e.type for e in fired]
        assert fired[0].subject == "refresh-run/dbt/9f2c"
        data = json.loads(fired[0].model_dump_json())["data"]
        assert "model.shop.orders" in json.dumps(data), data
    finally:
        process.stop()
