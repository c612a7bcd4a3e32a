"""Change events that producers publish: one model per input topic.

JSON on the wire, UTF-8. The Kafka message key is the entity id (data source,
segment, measure or refresh run) so one entity's events stay on one partition.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Id = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")]
Name = Annotated[str, Field(min_length=1, max_length=512)]
# A count as Java's long holds it: the encoders (orjson) refuse integers past 64 bits, so a larger one is refused here
# with its field's name, not later as an error nobody can act on.
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _Model(BaseModel):
    # Unknown fields are rejected so a typo does not silently drop data;
    # NaN and infinities are not JSON and are rejected as well.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_strip_whitespace=False)


class ChangeEvent(_Model):
    event_id: Id = Field(description="Unique id of this event; a repeat of an id is ignored")
    event_time: AwareDatetime = Field(description="When the change happened (RFC 3339, with offset)")
    sequence: Count | None = Field(None, description="Optional producer sequence, orders events with equal event_time")


# -- data sources -----------------------------------------------------------


class RefreshStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefreshFailure(_Model):
    code: Annotated[str, Field(min_length=1, max_length=128)]
    message: Annotated[str, Field(max_length=4096)]
    will_retry: bool = Field(description="True when the source retries by itself; only final failures fire")


class DataSourceChange(ChangeEvent):
    """A data source's refresh started, succeeded or failed. Key: data_source_id."""

    data_source_id: Id
    data_source_name: Name
    refresh_run_id: Id
    status: RefreshStatus
    failure: RefreshFailure | None = Field(None, description="Required when status is 'failed', else absent")
    row_count: Count | None = None

    @model_validator(mode="after")
    def _failure_iff_failed(self) -> DataSourceChange:
        if self.status is RefreshStatus.FAILED and self.failure is None:
            raise ValueError("a failed refresh needs 'failure' (code, message, will_retry)")
        if self.status is not RefreshStatus.FAILED and self.failure is not None:
            raise ValueError(f"'failure' is only allowed with status 'failed', not {self.status.value!r}")
        return self


# -- segments and measures --------------------------------------------------


class SegmentChange(ChangeEvent):
    """A segment's member count after a refresh. Key: segment_id."""

    segment_id: Id
    segment_name: Name
    # Strict: 12.5 members or "12" is a producer bug, not a count.
    member_count: Annotated[Count, Field(strict=True)]
    run_id: Id | None = None


class MeasureChange(ChangeEvent):
    """A business measure's value after a refresh. Key: measure_id."""

    measure_id: Id
    measure_name: Name
    value: float = Field(description="Finite number; NaN and infinities are rejected")
    run_id: Id | None = None


# -- refresh runs -----------------------------------------------------------


class TaskKind(StrEnum):
    DATA_SOURCE = "data_source"
    UNIFICATION = "unification"
    SEGMENT = "segment"
    MEASURE = "measure"
    ENRICHMENT = "enrichment"
    PREDICTION = "prediction"
    SEARCH_INDEX = "search_index"
    EXPORT = "export"
    OTHER = "other"


UNIFICATION_STEPS = ("map", "match", "merge")
MAX_TASKS = 1000


class TaskRef(_Model):
    kind: TaskKind
    name: Id = Field(description="Data source / segment / measure id; for unification one of map, match, merge")

    @model_validator(mode="after")
    def _unification_steps(self) -> TaskRef:
        if self.kind is TaskKind.UNIFICATION and self.name not in UNIFICATION_STEPS:
            raise ValueError(f"unification task must be one of {', '.join(UNIFICATION_STEPS)}, not {self.name!r}")
        return self

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.name}"


class TaskStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class RefreshRunStarted(ChangeEvent):
    """A refresh run began and declares the tasks it will run. Key: run_id."""

    kind: Literal["run_started"]
    run_id: Id
    trigger: Literal["scheduled", "manual"]
    tasks: Annotated[list[TaskRef], Field(min_length=1, max_length=MAX_TASKS)] = Field(
        description=f"At most {MAX_TASKS}, and the whole event within CDP_MAX_EVENT_BYTES (64 KiB by default)"
    )

    @model_validator(mode="after")
    def _unique_tasks(self) -> RefreshRunStarted:
        keys = [t.key for t in self.tasks]
        if len(set(keys)) != len(keys):
            raise ValueError("tasks must be unique")
        return self


class TaskProgress(ChangeEvent):
    """One task of a refresh run started or reached a final state. Key: run_id."""

    kind: Literal["task_progress"]
    run_id: Id
    task: TaskRef
    status: TaskStatus
    message: Annotated[str, Field(max_length=4096)] | None = None


RefreshRunChange = Annotated[RefreshRunStarted | TaskProgress, Field(discriminator="kind")]
