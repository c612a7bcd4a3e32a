"""What the worker that owns a key answers when asked why it decided what it did (``cdp-triggers explain``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .deadletter import DeadLetter


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
    dead_letters: list[DeadLetter] | None = Field(
        None,
        description="A segment's or measure's events rejected to the dead-letter topic (keyed by its id or naming "
        "it), newest first, at most 10; added by the asker, not the worker (null: not asked, or not readable in time)",
    )
