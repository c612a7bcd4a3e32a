"""JSON documents as a producer in any language would write them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def _event(t: float, event_id: str | None, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id or f"e-{next(_ids)}", "event_time": at(t), **fields}


def segment(segment_id: str, count: int, t: float, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return _event(t, event_id, segment_id=segment_id, segment_name=f"Segment {segment_id}", member_count=count, **extra)


def measure(measure_id: str, value: float, t: float, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return _event(t, event_id, measure_id=measure_id, measure_name=f"Measure {measure_id}", value=value, **extra)


def datasource(
    ds_id: str,
    status: str,
    t: float,
    run: str = "r1",
    event_id: str | None = None,
    will_retry: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    doc = _event(
        t,
        event_id,
        data_source_id=ds_id,
        data_source_name=f"Source {ds_id}",
        refresh_run_id=run,
        status=status,
        **extra,
    )
    if status == "failed":
        doc["failure"] = {"code": "E_AUTH", "message": "credentials expired", "will_retry": bool(will_retry)}
    return doc


def run_started(
    run_id: str, tasks: list[tuple[str, str]], t: float, trigger: str = "scheduled", event_id: str | None = None
) -> dict[str, Any]:
    return _event(
        t,
        event_id,
        kind="run_started",
        run_id=run_id,
        trigger=trigger,
        tasks=[{"kind": k, "name": n} for k, n in tasks],
    )


def task(run_id: str, kind: str, name: str, status: str, t: float, event_id: str | None = None) -> dict[str, Any]:
    return _event(t, event_id, kind="task_progress", run_id=run_id, task={"kind": kind, "name": name}, status=status)


def subscription(
    sub_id: str,
    kind: str,
    entity_id: str,
    threshold: float,
    recovery: float | None = None,
    owner: str = "owner@example.com",
    **labels: str,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "subscription_id": sub_id,
        "entity_kind": kind,
        "entity_id": entity_id,
        "threshold": threshold,
        "owner": owner,
        "labels": labels,
    }
    if recovery is not None:
        doc["recovery_threshold"] = recovery
    return doc


def trigger_event(kind: Any, trigger_id: str = "7f1c2a3b-0000-5000-8000-000000000001", **data: Any) -> dict[str, Any]:
    """A valid trigger event (as the worker writes it) of kind 'failed' or 'crossed', or of any
    ``TriggerType`` with its declared example payload."""
    from schemas.triggers import KINDS, TriggerEvent, TriggerType, dataschema_for

    if isinstance(kind, TriggerType):
        trigger_type, subject, payload = kind, "entity/example", dict(KINDS[kind].example)
    elif kind == "failed":
        trigger_type, subject = TriggerType.DATA_SOURCE_REFRESH_FAILED, "data-source/crm"
        payload = dict(
            data_source_id="crm",
            data_source_name="CRM contacts",
            refresh_run_id="r-42",
            error_code="AuthFailed",
            error_message="token expired <again> & again",
            failed_at=at(60),
            started_at=at(0),
            duration_seconds=60.0,
            retried_failures=2,
        )
    else:
        trigger_type, subject = TriggerType.SEGMENT_THRESHOLD_CROSSED, "segment/vip"
        payload = dict(
            subscription_id="vip-1000",
            entity_kind="segment",
            entity_id="vip",
            entity_name="VIP customers",
            threshold=1000.0,
            recovery_threshold=950.0,
            previous_value=990.0,
            value=1012.0,
            crossed_at=at(60),
            owner="owner@example.com",
            labels={"team": "marketing"},
        )
    payload.update(data)
    event = TriggerEvent(
        id=trigger_id,
        source="/cdp-triggers/test",
        type=trigger_type,
        subject=subject,
        time=at(60),
        dataschema=dataschema_for(trigger_type),
        data=payload,
    )
    event.payload()  # the payload must be valid for its type
    return event.model_dump(mode="json")
