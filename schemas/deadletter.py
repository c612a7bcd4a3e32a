"""What the worker writes to the dead-letter topic for an input it cannot use."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DeadLetterReason(StrEnum):
    NOT_JSON = "not_json"
    NOT_UTF8 = "not_utf8"
    SCHEMA = "schema"
    OVERSIZED = "oversized"
    EMPTY = "empty"


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: DeadLetterReason
    error: str = Field(description="Human-readable detail: the parser's or validator's message")
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = Field(None, description="Kafka timestamp of the original message")
    key_base64: str | None = Field(None, description="Original key bytes, base64")
    value_base64: str | None = Field(None, description="Original value bytes, base64 (null for a tombstone)")
    dead_lettered_at: datetime
    worker: str = Field(description="Faust app id of the worker that rejected it")
