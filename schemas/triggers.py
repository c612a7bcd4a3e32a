"""Trigger events on the actions topic: CloudEvents 1.0, structured JSON mode.

The envelope is the same for every trigger; ``type`` names the trigger and its
version, ``data`` holds the payload model registered for that type.
"""

from __future__ import annotations

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
    detected_at: datetime
    pending_tasks: list[str] = Field(description="kind:name of each task without a final state")


PAYLOADS: dict[TriggerType, type[_Payload]] = {
    TriggerType.DATA_SOURCE_REFRESH_FAILED: DataSourceRefreshFailed,
    TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED: DataSourceRefreshSucceeded,
    TriggerType.SEGMENT_THRESHOLD_CROSSED: ThresholdCrossed,
    TriggerType.MEASURE_THRESHOLD_CROSSED: ThresholdCrossed,
    TriggerType.FULL_REFRESH_COMPLETED: FullRefreshCompleted,
    TriggerType.UNIFICATION_REFRESH_COMPLETED: UnificationRefreshCompleted,
    TriggerType.REFRESH_RUN_STALLED: RefreshRunStalled,
}


def payload_schema_name(model: type[_Payload]) -> str:
    return "trigger-data." + "".join("-" + c.lower() if c.isupper() else c for c in model.__name__).lstrip("-")


def dataschema_for(trigger_type: TriggerType) -> str:
    return f"{SCHEMA_URN}{payload_schema_name(PAYLOADS[trigger_type])}"


class TriggerEvent(BaseModel):
    """CloudEvents 1.0 envelope; ``data`` validates against the payload of ``type``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Deterministic: the same cause always yields the same id")
    source: str = Field(description="URI reference of the emitting engine, e.g. /cdp-triggers/<app id>")
    type: TriggerType
    subject: str = Field(description="The entity: segment/<id>, measure/<id>, data-source/<id>, refresh-run/<id>")
    time: datetime = Field(description="Event time of the cause (detection time for stalled runs)")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    data: dict[str, Any]

    def payload(self) -> _Payload:
        return PAYLOADS[self.type].model_validate(self.data)
