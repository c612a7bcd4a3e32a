"""Trigger events on the actions topic: CloudEvents 1.0, structured JSON mode.

The envelope is the same for every trigger; ``type`` names the trigger and its
version, ``data`` holds the payload model declared for that type.

Every trigger type is declared once, in ``KINDS`` at the end of this module:
its payload model, how a person reads it (title, colour, facts, one line) and
an example payload. Cards, emails, the terminal view, the JSON Schemas and the
metrics all take what they need from there; adding a type means adding a
member to ``TriggerType``, a payload model and one ``TriggerKind``.
"""

from __future__ import annotations

import builtins
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_TYPE_PREFIX = "io.cdptriggers."
SCHEMA_URN = "urn:cdp-triggers:schema:"


class TriggerType(StrEnum):
    DATA_SOURCE_REFRESH_FAILED = _TYPE_PREFIX + "datasource.refresh.failed.v1"
    DATA_SOURCE_REFRESH_SUCCEEDED = _TYPE_PREFIX + "datasource.refresh.succeeded.v1"
    SEGMENT_THRESHOLD_CROSSED = _TYPE_PREFIX + "segment.threshold.crossed.v1"
    MEASURE_THRESHOLD_CROSSED = _TYPE_PREFIX + "measure.threshold.crossed.v1"
    FULL_REFRESH_COMPLETED = _TYPE_PREFIX + "refresh.full.completed.v1"
    UNIFICATION_REFRESH_COMPLETED = _TYPE_PREFIX + "refresh.unification.completed.v1"
    REFRESH_RUN_STALLED = _TYPE_PREFIX + "refresh.run.stalled.v1"

    @property
    def short(self) -> str:
        """A bounded, human label: 'segment.threshold.crossed'."""
        return self.value.removeprefix(_TYPE_PREFIX).rsplit(".", 1)[0]

    @classmethod
    def from_short(cls, name: str) -> TriggerType:
        """The type a short name stands for; ValueError naming the choices."""
        for kind in cls:
            if kind.short == name:
                return kind
        raise ValueError(f"{name!r} is not a trigger type: use one of {', '.join(sorted(k.short for k in cls))}")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSourceRefreshFailed(_Payload):
    data_source_id: str
    data_source_name: str
    refresh_run_id: str
    error_code: str
    error_message: str
    failed_at: datetime
    started_at: datetime | None = Field(None, description="When this refresh run started, if seen")
    duration_seconds: float | None = None
    retried_failures: int = Field(0, description="Retrying failures of this refresh run seen before this one")


class DataSourceRefreshSucceeded(_Payload):
    data_source_id: str
    data_source_name: str
    refresh_run_id: str
    succeeded_at: datetime
    started_at: datetime | None = None
    duration_seconds: float | None = None
    row_count: int | None = None
    retried_failures: int = 0


class ThresholdCrossed(_Payload):
    subscription_id: str
    entity_kind: Literal["segment", "measure"]
    entity_id: str
    entity_name: str
    threshold: float
    recovery_threshold: float
    previous_value: float
    value: float
    crossed_at: datetime
    run_id: str | None = None
    owner: str
    labels: dict[str, str]


class TaskOutcome(_Payload):
    kind: str
    name: str
    status: Literal["succeeded", "failed", "skipped"]
    started_at: datetime | None = None
    finished_at: datetime
    duration_seconds: float | None = None


class FullRefreshCompleted(_Payload):
    run_id: str
    trigger: Literal["scheduled", "manual"]
    succeeded: bool = Field(description="True when every task succeeded")
    started_at: datetime
    completed_at: datetime
    duration_seconds: float
    tasks: list[TaskOutcome]
    failed_tasks: list[str] = Field(description="kind:name of each failed task")
    skipped_tasks: list[str]


class UnificationRefreshCompleted(_Payload):
    run_id: str
    succeeded: bool = Field(description="True when map, match and merge all succeeded")
    completed_at: datetime
    steps: Annotated[list[TaskOutcome], Field(min_length=3, max_length=3)]


class RefreshRunStalled(_Payload):
    run_id: str
    trigger: Literal["scheduled", "manual"] | None
    started_at: datetime
    stalled_after_seconds: float
    detected_at: datetime = Field(description="When the run became stalled: started_at + stalled_after_seconds")
    pending_tasks: list[str] = Field(description="kind:name of each task without a final state")


def payload_schema_name(model: type[_Payload]) -> str:
    return "trigger-data." + "".join("-" + c.lower() if c.isupper() else c for c in model.__name__).lstrip("-")


@functools.cache  # once per type, not per trigger
def dataschema_for(trigger_type: TriggerType) -> str:
    return f"{SCHEMA_URN}{payload_schema_name(KINDS[trigger_type].payload)}"


TEST_EXTENSION = "cdptest"  # a CloudEvents extension attribute, true on test sends only


def _test_extension(schema: dict[str, Any]) -> None:
    schema["properties"][TEST_EXTENSION] = {
        "type": "boolean",
        "const": True,
        "description": "Present, and true, only on a test send ('routes test', POST /v1/hooks/{id}/test): "
        "never a real trigger, so flows can ignore it",
    }


class TriggerEvent(BaseModel):
    """CloudEvents 1.0 envelope; ``data`` validates against the payload of ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_test_extension)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Deterministic: the same cause always yields the same id")
    source: str = Field(description="URI reference of the emitting engine, e.g. /cdp-triggers/<app id>")
    type: TriggerType
    subject: str = Field(description="The entity: segment/<id>, measure/<id>, data-source/<id>, refresh-run/<id>")
    time: datetime = Field(description="Event time of the cause (for stalled runs: start + the limit)")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    data: dict[str, Any]

    def payload(self) -> _Payload:
        return KINDS[self.type].payload.model_validate(self.data)


# How people read a trigger: cards and emails (title, tone, facts) and terminals (line).


@dataclass(frozen=True)
class Summary:
    title: str
    tone: Literal["good", "warning", "attention"]  # the card's colour
    facts: list[tuple[str, str]]
    line: str  # the one-line detail of the terminal view


@dataclass(frozen=True)
class TriggerKind:
    """Everything the engine knows about one trigger type."""

    type: TriggerType
    payload: builtins.type[_Payload]  # builtins: the field above shadows ``type`` in this class body
    style: str  # terminal colour (a rich style)
    in_product: bool  # one of the six triggers of the product we model; False: our own
    describe: Callable[[dict[str, Any]], Summary]  # from the payload as JSON
    example: dict[str, Any]  # a valid payload, as JSON: samples for APIs, docs and tests


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)


def _secs(value: Any) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _refresh_failed(d: dict[str, Any]) -> Summary:
    return Summary(
        f"Data source refresh failed: {d['data_source_name']}",
        "attention",
        [
            ("Data source", f"{d['data_source_name']} ({d['data_source_id']})"),
            ("Error", f"{d['error_code']}: {d['error_message']}"),
            ("Refresh run", d["refresh_run_id"]),
            ("Duration", _secs(d.get("duration_seconds"))),
            ("Retried failures before", str(d.get("retried_failures", 0))),
        ],
        f"{d['error_code']}: {d['error_message']}",
    )


def _refresh_succeeded(d: dict[str, Any]) -> Summary:
    rows = d.get("row_count")
    return Summary(
        f"Data source refreshed: {d['data_source_name']}",
        "good",
        [
            ("Data source", f"{d['data_source_name']} ({d['data_source_id']})"),
            ("Rows", _num(rows) if rows is not None else "unknown"),
            ("Refresh run", d["refresh_run_id"]),
            ("Duration", _secs(d.get("duration_seconds"))),
        ],
        f"{rows:,} rows" if rows is not None else "succeeded",
    )


def _crossed(d: dict[str, Any]) -> Summary:
    noun = "Segment" if d["entity_kind"] == "segment" else "Measure"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(d.get("labels", {}).items())) or "none"
    return Summary(
        f"{noun} threshold crossed: {d['entity_name']} at {_num(d['value'])} (threshold {_num(d['threshold'])})",
        "warning",
        [
            (noun, f"{d['entity_name']} ({d['entity_id']})"),
            ("Value", f"{_num(d['previous_value'])} → {_num(d['value'])}"),
            ("Threshold", f"{_num(d['threshold'])} (re-arms below {_num(d['recovery_threshold'])})"),
            ("Subscription", d["subscription_id"]),
            ("Owner", d["owner"]),
            ("Labels", labels),
        ],
        f"{d['previous_value']:,g} → {d['value']:,g} (threshold {d['threshold']:,g}, {d['subscription_id']})",
    )


def _full_completed(d: dict[str, Any]) -> Summary:
    ok = d["succeeded"]
    failed = ", ".join(d["failed_tasks"]) or "none"
    return Summary(
        f"Full refresh {'completed' if ok else 'completed with failures'}",
        "good" if ok else "attention",
        [
            ("Run", f"{d['run_id']} ({d['trigger']})"),
            ("Duration", _secs(d["duration_seconds"])),
            ("Tasks", f"{len(d['tasks'])} ({len(d['failed_tasks'])} failed, {len(d['skipped_tasks'])} skipped)"),
            ("Failed tasks", failed),
        ],
        "all tasks succeeded" if ok else f"failed: {', '.join(d['failed_tasks'])}",
    )


def _unification_completed(d: dict[str, Any]) -> Summary:
    ok = d["succeeded"]
    steps = ", ".join(f"{s['name']} {s['status']}" for s in d["steps"])
    return Summary(
        f"Unification refresh {'completed' if ok else 'failed'}",
        "good" if ok else "attention",
        [
            ("Run", d["run_id"]),
            ("Steps", steps),
        ],
        " ".join(f"{s['name']}={s['status']}" for s in d["steps"]),
    )


def _stalled(d: dict[str, Any]) -> Summary:
    return Summary(
        "Refresh run stalled",
        "attention",
        [
            ("Run", f"{d['run_id']} ({d.get('trigger') or 'unknown trigger'})"),
            ("Running for", _secs(d["stalled_after_seconds"])),
            ("Pending tasks", ", ".join(d["pending_tasks"]) or "none"),
            ("Started", d["started_at"]),
        ],
        f"pending: {', '.join(d['pending_tasks'])}",
    )


def _step(kind: str, name: str, status: str = "succeeded", start: str = "08:10", end: str = "08:20") -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "status": status,
        "started_at": f"2026-11-24T{start}:00Z",
        "finished_at": f"2026-11-24T{end}:00Z",
        "duration_seconds": 600.0,
    }


_UNIFICATION_STEPS = [_step("unification", "map"), _step("unification", "match"), _step("unification", "merge")]
_THRESHOLD = {
    "subscription_id": "vip-1000",
    "threshold": 1000.0,
    "recovery_threshold": 950.0,
    "previous_value": 990.0,
    "value": 1012.0,
    "crossed_at": "2026-11-24T09:00:00Z",
    "run_id": None,
    "owner": "owner@example.com",
    "labels": {"team": "marketing"},
}

_KINDS = (
    TriggerKind(
        TriggerType.DATA_SOURCE_REFRESH_FAILED,
        DataSourceRefreshFailed,
        "bold red",
        True,
        _refresh_failed,
        {
            "data_source_id": "crm",
            "data_source_name": "CRM contacts",
            "refresh_run_id": "r-42",
            "error_code": "AuthFailed",
            "error_message": "token expired",
            "failed_at": "2026-11-24T08:01:00Z",
            "started_at": "2026-11-24T08:00:00Z",
            "duration_seconds": 60.0,
            "retried_failures": 2,
        },
    ),
    TriggerKind(
        TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED,
        DataSourceRefreshSucceeded,
        "green",
        True,
        _refresh_succeeded,
        {
            "data_source_id": "crm",
            "data_source_name": "CRM contacts",
            "refresh_run_id": "r-43",
            "succeeded_at": "2026-11-24T08:05:00Z",
            "started_at": "2026-11-24T08:00:00Z",
            "duration_seconds": 300.0,
            "row_count": 1250000,
            "retried_failures": 0,
        },
    ),
    TriggerKind(
        TriggerType.SEGMENT_THRESHOLD_CROSSED,
        ThresholdCrossed,
        "bold magenta",
        True,
        _crossed,
        {**_THRESHOLD, "entity_kind": "segment", "entity_id": "vip", "entity_name": "VIP customers"},
    ),
    TriggerKind(
        TriggerType.MEASURE_THRESHOLD_CROSSED,
        ThresholdCrossed,
        "bold magenta",
        True,
        _crossed,
        {
            **_THRESHOLD,
            "subscription_id": "revenue-50k",
            "entity_kind": "measure",
            "entity_id": "monthly-revenue",
            "entity_name": "Monthly revenue",
            "threshold": 50000.0,
            "recovery_threshold": 48000.0,
            "previous_value": 49880.4,
            "value": 51572.7,
        },
    ),
    TriggerKind(
        TriggerType.FULL_REFRESH_COMPLETED,
        FullRefreshCompleted,
        "cyan",
        True,
        _full_completed,
        {
            "run_id": "run-7",
            "trigger": "scheduled",
            "succeeded": False,
            "started_at": "2026-11-24T08:00:00Z",
            "completed_at": "2026-11-24T08:40:00Z",
            "duration_seconds": 2400.0,
            "tasks": [
                _step("data_source", "crm", "succeeded", "08:00", "08:10"),
                _step("data_source", "web", "failed", "08:00", "08:10"),
                *_UNIFICATION_STEPS,
                _step("segment", "vip", "skipped", "08:30", "08:40"),
            ],
            "failed_tasks": ["data_source:web"],
            "skipped_tasks": ["segment:vip"],
        },
    ),
    TriggerKind(
        TriggerType.UNIFICATION_REFRESH_COMPLETED,
        UnificationRefreshCompleted,
        "cyan",
        True,
        _unification_completed,
        {"run_id": "run-7", "succeeded": True, "completed_at": "2026-11-24T08:20:00Z", "steps": _UNIFICATION_STEPS},
    ),
    TriggerKind(
        TriggerType.REFRESH_RUN_STALLED,
        RefreshRunStalled,
        "bold yellow",
        False,
        _stalled,
        {
            "run_id": "run-8",
            "trigger": "manual",
            "started_at": "2026-11-24T08:00:00Z",
            "stalled_after_seconds": 3600.0,
            "detected_at": "2026-11-24T09:00:00Z",
            "pending_tasks": ["unification:merge", "segment:vip"],
        },
    ),
)
KINDS: dict[TriggerType, TriggerKind] = {kind.type: kind for kind in _KINDS}
if set(KINDS) != set(TriggerType):  # a new type without its declaration must not load
    raise RuntimeError(f"trigger types without a TriggerKind: {sorted(set(TriggerType) - set(KINDS))}")


def sample_event(trigger_type: TriggerType, event_id: str, source: str, time: datetime) -> TriggerEvent:
    """A trigger event carrying the type's example payload (API samples and hook tests)."""
    data = KINDS[trigger_type].example
    if "entity_kind" in data:
        subject = f"{data['entity_kind']}/{data['entity_id']}"
    elif "data_source_id" in data:
        subject = f"data-source/{data['data_source_id']}"
    else:
        subject = f"refresh-run/{data['run_id']}"
    return TriggerEvent(
        id=event_id,
        source=source,
        type=trigger_type,
        subject=subject,
        time=time,
        dataschema=dataschema_for(trigger_type),
        data=data,
    )


def event_for_test_send(trigger_type: TriggerType, source: str, time: datetime) -> dict[str, Any]:
    """A test send's event: the type's example, an id starting with 'test-', the ``cdptest`` extension, and no
    owner (a test must not mail the example's owner)."""
    event = sample_event(trigger_type, f"test-{secrets.token_hex(8)}", source, time).model_dump(mode="json")
    if "owner" in event["data"]:
        event["data"]["owner"] = ""
    return {**event, TEST_EXTENSION: True}
