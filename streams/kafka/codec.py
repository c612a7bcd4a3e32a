"""Bytes in, models out: decoding input messages, or saying why not."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import fastavro
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.deadletter import DeadLetter, DeadLetterReason, dead_letter_id
from schemas.errors import one_line
from schemas.triggers import dataschema_for

from ..detection.trigger import Trigger

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: DeadLetterReason
    error: str


# Confluent's Schema Registry wire format: magic byte 0, a 4-byte big-endian schema id, then the payload (JSON
# for a JSON Schema serializer). No JSON text starts with a control character, so a value is plain JSON or a frame.
_MAGIC = 0
_FRAME_HEADER = 5
_JSON_WHITESPACE = frozenset(b" \t\n\r")


def unframed(raw: bytes) -> bytes | Rejected:
    """The JSON inside a Schema Registry frame, plain JSON as it is, or why it cannot be either."""
    first = raw[0]
    if first >= 0x20 or first in _JSON_WHITESPACE:
        return raw
    if first != _MAGIC:
        return Rejected(
            DeadLetterReason.FRAMING,
            f"unknown magic byte 0x{first:02x}: input is plain JSON, or Confluent's Schema Registry framing "
            "(magic byte 0x00, a 4-byte schema id, then JSON)",
        )
    if len(raw) <= _FRAME_HEADER:
        return Rejected(DeadLetterReason.FRAMING, f"a Schema Registry frame of {len(raw)} bytes has no payload")
    return raw[_FRAME_HEADER:]


@dataclass(frozen=True)
class Writer:
    """The schema a framed value was written with, as the registry holds it."""

    schema_id: int
    avro: Any | None  # fastavro's parsed schema; None: a JSON Schema, so the payload is JSON


def framed(schema_id: int, payload: bytes) -> bytes:
    """A Schema Registry frame: magic byte 0, the schema id (4 bytes, big-endian), the payload."""
    return bytes([_MAGIC]) + schema_id.to_bytes(4, "big") + payload


def avro_body(parsed: Any, model: BaseModel) -> bytes:
    """A model as Avro's binary encoding under ``parsed`` (fastavro's parsed schema)."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, model.model_dump())
    return body.getvalue()


def frame_id(raw: bytes | None) -> int | None:
    """The schema id of a Schema Registry frame; None for anything else (plain JSON, a frame with no payload)."""
    if raw is None or len(raw) <= _FRAME_HEADER or raw[0] != _MAGIC:
        return None
    return _schema_id(raw)


class Decoder(Generic[T]):
    """Validates JSON bytes, plain or in a Schema Registry frame, against one input model (or union of models)."""

    def __init__(self, model: Any, max_bytes: int) -> None:  # a model, or a union of models (a typing form)
        self._adapter: TypeAdapter[T] = TypeAdapter(model)
        self._max_bytes = max_bytes

    def decode(self, raw: bytes | None, writer: Writer | None = None) -> T | Rejected:
        """``writer``: the frame's writer schema, when a registry was asked (an Avro one decodes the payload)."""
        if raw is None or raw == b"":
            return Rejected(DeadLetterReason.EMPTY, "message has no value")
        if len(raw) > self._max_bytes:
            return Rejected(DeadLetterReason.OVERSIZED, f"{len(raw)} bytes exceeds the limit of {self._max_bytes}")
        payload = unframed(raw)
        if isinstance(payload, Rejected):
            return payload
        if writer is not None and writer.avro is not None:
            return self._avro(payload, writer)
        try:
            document = orjson.loads(payload)  # refuses invalid UTF-8 too: the reason is told apart only then
        except orjson.JSONDecodeError as exc:
            framed = "" if payload is raw else f"in a Schema Registry frame (schema id {_schema_id(raw)}): "
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as not_utf8:
                return Rejected(DeadLetterReason.NOT_UTF8, framed + str(not_utf8))
            return Rejected(DeadLetterReason.NOT_JSON, framed + str(exc))
        try:
            return self._adapter.validate_python(document)
        except ValidationError as exc:
            return Rejected(DeadLetterReason.SCHEMA, one_line(exc))

    def _avro(self, payload: bytes, writer: Writer) -> T | Rejected:
        where = f"in a Schema Registry frame (schema id {writer.schema_id}, Avro)"
        body = io.BytesIO(payload)
        try:
            document = fastavro.schemaless_reader(body, writer.avro, None)  # type: ignore[arg-type]  # avro: checked by the caller
        except Exception as exc:  # fastavro raises many kinds (EOF, a bad union index, bad UTF-8): all the body's
            return Rejected(DeadLetterReason.NOT_AVRO, f"{where}: {type(exc).__name__}: {exc}")
        if body.tell() != len(payload):
            left = len(payload) - body.tell()
            return Rejected(DeadLetterReason.NOT_AVRO, f"{where}: {left} bytes after the record its schema reads")
        try:
            return self._adapter.validate_python(document)
        except ValidationError as exc:
            return Rejected(DeadLetterReason.SCHEMA, one_line(exc))


def _schema_id(frame: bytes) -> int:
    return int.from_bytes(frame[1:_FRAME_HEADER], "big")


def dead_letter(
    rejected: Rejected,
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    worker: str,
) -> DeadLetter:
    return DeadLetter(
        id=dead_letter_id(topic, partition, offset),
        reason=rejected.reason,
        error=rejected.error,
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        key_base64=base64.b64encode(key).decode() if key is not None else None,
        value_base64=base64.b64encode(value).decode() if value is not None else None,
        dead_lettered_at=datetime.now(UTC),
        worker=worker,
    )


def encode(model: BaseModel) -> bytes:
    return orjson.dumps(model.model_dump(mode="json"))


def encode_trigger(trigger: Trigger, source: str) -> bytes:
    """A trigger's CloudEvent (``schemas.triggers.TriggerEvent``), byte for byte what ``encode`` writes of one
    (property-tested), in one pass instead of a payload dumped to a dict, validated into the envelope and dumped
    again: the envelope's fields by orjson, the payload by its model's own JSON serializer, joined."""
    head = orjson.dumps(
        {
            "specversion": "1.0",
            "id": trigger.id,
            "source": source,
            "type": trigger.type.value,
            "subject": trigger.subject,
            "time": trigger.time,
            "datacontenttype": "application/json",
            "dataschema": dataschema_for(trigger.type),
        },
        option=orjson.OPT_UTC_Z,  # pydantic writes UTC as Z
    )
    return head[:-1] + b',"data":' + trigger.data.__pydantic_serializer__.to_json(trigger.data) + b"}"


class TooLarge(ValueError):
    """A record over ``CDP_MAX_EVENT_BYTES``: its readers would refuse it, so it is never written."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what} is {size:,} bytes encoded, over the limit of {limit:,} (CDP_MAX_EVENT_BYTES)")
        self.size, self.limit = size, limit


def within(value: bytes, limit: int, what: str) -> bytes:
    """``value``, unless it is over ``limit`` (the readers' ``Decoder`` limit): the writers' side of that bound."""
    if len(value) > limit:
        raise TooLarge(what, len(value), limit)
    return value
