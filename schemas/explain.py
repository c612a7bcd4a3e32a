"""What the worker that owns a key answers when asked why it decided what it did (``cdp-triggers explain``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ExplainReply(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(description="The request's id, also the record's key")
    agent: str = Field(description="The detection agent that holds the key: thresholds, datasources or runs")
    key: str = Field(description="The state key: 'segment/<id>', 'measure/<id>', a data source id or a run id")
    partition: int = Field(description="The input partition that owns the key")
    explanation: dict[str, Any] | None = Field(description="What the state says, by the agent's own rule")
    applied: dict[str, int | None] = Field(
        description="Per input topic, the next offset of that partition to apply: the answer holds everything "
        "before it (null: nothing applied there since this worker took the partition)"
    )
    worker: str = Field(description="The worker that answered")
    answered_at: datetime
