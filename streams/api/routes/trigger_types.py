"""The trigger types: a sample event and the data's JSON Schema of each (for flow designers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from schemas.triggers import KINDS, TriggerType, sample_event

from ..deps import Reader, TypeName
from ..problems import ProblemError, responses

router = APIRouter()
BY_NAME = {t.short: t for t in TriggerType}


class TriggerTypeInfo(BaseModel):
    name: str = Field(description="Short name used in hooks and routes, e.g. segment.threshold.crossed")
    type: str = Field(description="The CloudEvents type, e.g. io.cdptriggers.segment.threshold.crossed.v1")
    title: str
    in_product: bool = Field(description="One of the six triggers of the CDP we model; false: our own")
    sample: dict[str, Any] = Field(description="A complete trigger event (CloudEvents JSON) with the example payload")
    data_schema: dict[str, Any] = Field(description="JSON Schema of the event's data")


class TriggerTypeList(BaseModel):
    items: list[TriggerTypeInfo]


def trigger_type_info(trigger_type: TriggerType) -> TriggerTypeInfo:
    kind = KINDS[trigger_type]
    sample = sample_event(
        trigger_type,
        f"sample-{trigger_type.short}",
        "/cdp-triggers/sample",
        datetime(2026, 11, 24, 9, tzinfo=UTC),
    )
    return TriggerTypeInfo(
        name=trigger_type.short,
        type=trigger_type.value,
        title=kind.describe(kind.example).title,
        in_product=kind.in_product,
        sample=sample.model_dump(mode="json"),
        data_schema=kind.payload.model_json_schema(),
    )


@router.get("/v1/trigger-types", name="listTriggerTypes", tags=["trigger types"], responses=responses(403))
async def list_trigger_types(_: Reader) -> TriggerTypeList:
    """Every trigger type with a sample event and its data's JSON Schema (for flow designers)."""
    return TriggerTypeList(items=[trigger_type_info(t) for t in TriggerType])


@router.get(
    "/v1/trigger-types/{name}", name="getTriggerType", tags=["trigger types"], responses=responses(403, 404, 422)
)
async def get_trigger_type(_: Reader, name: TypeName) -> TriggerTypeInfo:
    """One trigger type by its short name: its CloudEvents type, a sample event and the JSON Schema of its data."""
    if name not in BY_NAME:
        raise ProblemError(404, f"no trigger type {name!r}; known: {', '.join(sorted(BY_NAME))}")
    return trigger_type_info(BY_NAME[name])
