"""What the worker writes to the dead-letter topic for an input it cannot use."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DeadLetterReason(StrEnum):
    NOT_JSON = "not_json"
    NOT_UTF8 = "not_utf8"
    SCHEMA = "schema"
    OVERSIZED = "oversized"
    EMPTY = "empty"
    FRAMING = "framing"  # a binary frame (magic byte) other than a Schema Registry's
    UNKNOWN_SCHEMA = "unknown_schema"  # a Schema Registry frame whose schema id the registry does not hold
    NOT_AVRO = "not_avro"  # an Avro body that its writer schema does not read


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        description="<topic>/<partition>/<offset> of the rejected message, also the record's key: "
        "a replay writes the same id, so consumers can drop repeats"
    )
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


# The delivery vocabulary of the metrics: bounded label values, each one declared here and nowhere else.
AttemptResult = Literal[
    "ok",
    "http_5xx",
    "http_429",
    "http_4xx",
    "http_other",
    "timeout",
    "connection",
    "denied",
    "smtp_4xx",
    "smtp_5xx",
    "no_recipients",
]
DeliveryOutcome = Literal["delivered", "dead_lettered", "duplicate", "cancelled"]


class DeliveryFailure(StrEnum):
    REJECTED = "rejected"  # the receiver refused it for good (4xx but 429, SMTP 5xx)
    EXHAUSTED = "exhausted"  # every attempt failed with a retryable error
    EXPIRED = "expired"  # older than CDP_DELIVERY_MAX_AGE_SECONDS when the dispatcher saw it
    NO_RECIPIENTS = "no_recipients"  # email with to_owner only, and the owner is not an address


class DeliveryAttempt(BaseModel):
    """What the dispatcher records of every attempt to deliver a trigger event to a receiver (the delivery
    attempts topic, kept for a week): what was tried, when, how long it took, the answer, and what comes next."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trigger_id: str
    trigger_type: str = Field(description="The trigger's short name, e.g. segment.threshold.crossed")
    subject: str
    receiver: str = Field(description="Receiver name from the routes file, or hook:<id> for an API hook")
    receiver_type: str = Field(description="teams, email, webhook, or hook")
    attempt: int = Field(description="1 for the first; a redelivery starts again at 1")
    at: datetime = Field(description="When the attempt began")
    latency_seconds: float = Field(description="From the attempt's start to the receiver's answer (or the error)")
    outcome: Literal["delivered", "retry", "rejected"]
    result: str = Field(description="ok, http_4xx, http_429, http_5xx, timeout, connection, smtp_4xx, smtp_5xx ...")
    detail: str = Field(description="The receiver's answer: HTTP status and body excerpt, SMTP reply; no secret")
    next_attempt_at: datetime | None = Field(description="When the next attempt is due; null: this was the last")


class DeliveryDeadLetter(BaseModel):
    """What the dispatcher writes to the delivery dead-letter topic: one record
    per trigger event and receiver it could not deliver to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="<trigger id>|<receiver>, also the record's key: a replay writes the same id")
    reason: DeliveryFailure
    receiver: str = Field(description="Receiver name from the routes file, or hook:<id> for an API hook")
    receiver_type: str = Field(description="teams, email, webhook, or hook")
    attempts: int
    error: str = Field(description="The last attempt's error, secrets removed")
    trigger_id: str
    event: dict[str, Any] = Field(description="The trigger event (CloudEvents JSON) as read from the actions topic")
    dead_lettered_at: datetime
    dispatcher: str = Field(description="Faust app id of the dispatcher")


def dead_letter_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}/{partition}/{offset}"


def delivery_id(trigger_id: str, receiver: str) -> str:
    """One delivery: a trigger event to one receiver (its record and its dead letter share it)."""
    return f"{trigger_id}|{receiver}"


class Replay(BaseModel):
    """One replay of a dead letter: who published which event in its place, and when. The dead-letter replays
    topic keeps every dead letter's replays, in order, under its id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dead_letter_id: str
    event_id: str = Field(
        description="The replayed event's id: derived from the dead-letter id and the replay's number"
    )
    original_event_id: str | None = Field(None, description="The event id the rejected message carried, if any")
    fixed: bool = Field(description="Whether a corrected event was replayed, rather than the original bytes")
    by: str = Field(description="Who replayed it (--by, or user@host)")
    at: datetime


class ReplayHistory(BaseModel):
    """The value of a dead letter's record on the replays topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replays: list[Replay]


class Redelivery(BaseModel):
    """A request, on the redeliveries topic, that the dispatcher send a given-up delivery again: the trigger event
    as it was dead-lettered, to one receiver. Keyed like the trigger event, so it lands on the partition whose
    delivery records say whether that receiver already took it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delivery_dead_letter_id: str
    receiver: str
    event: dict[str, Any] = Field(description="The trigger event (CloudEvents JSON), sent with its own id again")
    requested_by: str
    requested_at: datetime
