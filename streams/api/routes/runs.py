"""Refresh runs: the recent ones from the runs topic, each with what its owning worker says of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ..deps import Ctx, Reader, ReadSlot
from ..problems import responses

router = APIRouter(dependencies=[ReadSlot])  # each reads Kafka or asks the workers


class RunSummary(BaseModel):
    run_id: str
    events: int = Field(description="Its events on the runs topic in the window")
    last_event_at: datetime = Field(description="When the latest of them was written to Kafka")
    explanation: dict[str, Any] | None = Field(
        description="What the worker that owns it says (as GET /v1/explain/run/{id}): tasks, pending, stall "
        "deadline, triggers fired; null when no worker answered in time"
    )


class RunList(BaseModel):
    items: list[RunSummary] = Field(description="The latest first")
    since: datetime


@router.get("/v1/runs", name="listRuns", tags=["explain"], responses=responses(403, 422))
async def list_runs(
    _: Reader,
    ctx: Ctx,
    window: Annotated[float, Query(gt=0, le=30 * 86400, description="Seconds counted back")] = 86400.0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RunList:
    """The refresh runs with events in the window, latest first, each with its tasks' progress, what it waits
    for and when it stalls, asked of the owning workers in one request per partition."""
    since = datetime.now(UTC) - timedelta(seconds=window)
    found = await ctx.store.recent_runs(since, limit)
    said = await ctx.store.explain_many("run", [r.run_id for r in found])
    return RunList(
        items=[
            RunSummary(
                run_id=r.run_id,
                events=r.events,
                last_event_at=r.last_at,
                explanation=said[r.run_id].explanation if r.run_id in said else None,
            )
            for r in found
        ],
        since=since,
    )
