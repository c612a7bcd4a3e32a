"""Change events over HTTP, for producers without a Kafka client (an orchestrator's callback, a dbt hook, curl).

The same models, topics, keys and partitions as ``cdp-triggers publish``. A batch is all-or-nothing *before*
Kafka: if any item is invalid, the answer names every invalid item (index and field) and nothing is written.
Kafka itself cannot write several partitions atomically without transactions, which would hold back every
worker's reads while one is open, so a write that fails part-way answers which items were acknowledged. A
2xx comes only after Kafka acknowledged every event (acks=all). An event not acknowledged within
``CDP_KAFKA_TIMEOUT_SECONDS`` is dropped by the API's producer, never sent later behind the client's back; one
the broker took before a lost acknowledgement stays. Either way, retrying the same batch is safe: the worker
ignores a repeated event id, and an event older than its entity's latest.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from schemas.errors import invalid
from schemas.events import DataSourceChange, MeasureChange, RefreshRunChange, SegmentChange
from schemas.ingest import BatchItem

from ...client.producer import CHANGE_KINDS, ChangeEvent, encoded
from ...kafka.clients import refusal
from ...kafka.codec import TooLarge
from ..deps import Context, Ctx, Publisher
from ..problems import FieldError, ProblemError, responses

router = APIRouter()
NDJSON = "application/x-ndjson"
_ITEM: TypeAdapter[Any] = TypeAdapter(BatchItem)


class Written(BaseModel):
    index: int = Field(description="The event's position in the request, from 0")
    kind: str
    event_id: str
    topic: str
    partition: int
    offset: int


class Accepted(BaseModel):
    accepted: int = Field(description="Events written and acknowledged by Kafka (acks=all): all of them")
    events: list[Written]


_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": Accepted, "description": "Written: Kafka acknowledged every event"},
    **responses(403, 422, 500),
}
_DURABLE = (
    " Answers 202 only once Kafka acknowledged the write (acks=all). A retry of the same request is safe: the "
    "worker ignores a repeated event_id. Counts one event against the key's CDP_API_PUBLISH_EVENTS_PER_MINUTE."
)


@router.post(
    "/v1/events/datasource",
    name="publishDataSourceEvent",
    tags=["events"],
    status_code=202,
    responses=_ANSWERS,
    description="A data source's refresh started, succeeded or failed." + _DURABLE,
)
async def publish_datasource(key: Publisher, ctx: Ctx, event: DataSourceChange) -> Accepted:
    return await _one(ctx, key.key_id, "datasource", event)


@router.post(
    "/v1/events/segment",
    name="publishSegmentEvent",
    tags=["events"],
    status_code=202,
    responses=_ANSWERS,
    description="A segment's member count after a refresh." + _DURABLE,
)
async def publish_segment(key: Publisher, ctx: Ctx, event: SegmentChange) -> Accepted:
    return await _one(ctx, key.key_id, "segment", event)


@router.post(
    "/v1/events/measure",
    name="publishMeasureEvent",
    tags=["events"],
    status_code=202,
    responses=_ANSWERS,
    description="A business measure's value after a refresh." + _DURABLE,
)
async def publish_measure(key: Publisher, ctx: Ctx, event: MeasureChange) -> Accepted:
    return await _one(ctx, key.key_id, "measure", event)


@router.post(
    "/v1/events/run",
    name="publishRunEvent",
    tags=["events"],
    status_code=202,
    responses=_ANSWERS,
    description="A refresh run started (declaring its tasks), or one of its tasks progressed." + _DURABLE,
)
async def publish_run(key: Publisher, ctx: Ctx, event: RefreshRunChange) -> Accepted:
    return await _one(ctx, key.key_id, "run", event)


@router.post(
    "/v1/events",
    name="publishEvents",
    tags=["events"],
    status_code=202,
    responses={**_ANSWERS, **responses(415)},
    description="A batch of change events, each naming its kind: a JSON array of {kind, event}, or the same "
    f"items one per line with Content-Type {NDJSON}. All or nothing before Kafka: if any item is invalid, "
    "every invalid one is named (index, field) and nothing is written. At most CDP_API_MAX_BATCH_EVENTS items; "
    "each counts against the key's CDP_API_PUBLISH_EVENTS_PER_MINUTE. Answers 202 only once Kafka acknowledged "
    "every event; if a write fails part-way, the problem lists which items were acknowledged. A retry of the "
    "whole batch is safe: the worker ignores a repeated event_id.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/BatchItem"}, "minItems": 1}
                },
                NDJSON: {
                    "schema": {"type": "string", "description": "One BatchItem as JSON per line"},
                    "example": '{"kind": "segment", "event": {"event_id": "...", ...}}\n',
                },
            },
        }
    },
)
async def publish_events(key: Publisher, ctx: Ctx, request: Request) -> Accepted:
    documents = _documents(request.headers.get("content-type", ""), await request.body())
    limit = ctx.settings.api_max_batch_events
    if len(documents) > limit:
        raise ProblemError(
            413, f"{len(documents)} events in one request, over the limit of {limit} (CDP_API_MAX_BATCH_EVENTS)"
        )
    ctx.event_limiter.check(key.key_id, time.monotonic(), cost=len(documents))
    items: list[tuple[str, ChangeEvent]] = []
    errors: list[FieldError] = []
    for index, document in enumerate(documents):
        if isinstance(document, FieldError):
            errors.append(document)
            continue
        try:
            item = _ITEM.validate_python(document)
            encoded(item.event, ctx.settings.max_event_bytes)  # refused here, with its index, not by the producer
            items.append((item.kind, item.event))
        except ValidationError as exc:
            errors += [_item_error(index, e.field, e.message) for e in invalid(exc)]
        except TooLarge as exc:
            errors.append(FieldError(index=index, field="event", message=str(exc)))
    if errors:
        bad = len({e.index for e in errors})
        first = errors[0]
        raise ProblemError(
            422,
            f"{bad} of {len(documents)} items are invalid, so nothing was written; item {first.index}: "
            f"{first.field}: {first.message}",
            errors=errors,
        )
    return await _publish(ctx, items)


def schemas() -> dict[str, Any]:
    """The OpenAPI components the batch body refers to (it is read raw, for NDJSON, so FastAPI cannot add them)."""
    schema = _ITEM.json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "BatchItem": schema}


def _documents(content_type: str, body: bytes) -> list[Any]:
    """The request's items as parsed JSON; an NDJSON line that is not JSON is its item's error."""
    media = content_type.split(";")[0].strip().lower()
    if media == NDJSON:
        lines = [line for line in body.split(b"\n") if line.strip()]
        documents: list[Any] = []
        for index, line in enumerate(lines):
            try:
                documents.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                documents.append(FieldError(index=index, field="(line)", message=f"not JSON: {exc}"))
    elif media in ("application/json", ""):
        try:
            documents = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ProblemError(
                422, f"body: not JSON: {exc}", errors=[FieldError(field="body", message=str(exc))]
            ) from None
        if not isinstance(documents, list):
            detail = "a JSON array of {kind, event} items (or NDJSON, one item a line)"
            raise ProblemError(422, f"body: expected {detail}", errors=[FieldError(field="body", message=detail)])
    else:
        raise ProblemError(415, f"send application/json (an array of items) or {NDJSON}, not {media!r}")
    if not documents:
        raise ProblemError(422, "body: the batch is empty", errors=[FieldError(field="body", message="empty")])
    return documents


def _item_error(index: int, field: str, message: str) -> FieldError:
    """pydantic's location inside a batch item, without the union's tag: "event.member_count", or "kind"."""
    parts = field.split(".") if field else []
    if parts and parts[0] in CHANGE_KINDS:
        parts = parts[1:]
    return FieldError(index=index, field=".".join(parts) or "kind", message=message)


async def _one(ctx: Context, key_id: str, kind: str, event: ChangeEvent) -> Accepted:
    ctx.event_limiter.check(key_id, time.monotonic())  # a batch is counted before its validation, this one here
    return await _publish(ctx, [(kind, event)])


async def _publish(ctx: Context, items: list[tuple[str, ChangeEvent]]) -> Accepted:
    """Write the events and answer 202 with where each went, or a problem naming what was not acknowledged."""
    outcomes = await ctx.store.publish([event for _, event in items])
    written = [
        Written(index=i, kind=kind, event_id=event.event_id, topic=o.topic, partition=o.partition, offset=o.offset)
        for i, ((kind, event), o) in enumerate(zip(items, outcomes, strict=True))
        if isinstance(o, RecordMetadata)
    ]
    for w in written:
        ctx.metrics.api_events_published.labels(w.kind).inc()
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, KafkaError)]
    if not failures:
        return Accepted(accepted=len(written), events=written)
    raise _not_acknowledged(len(items), [w.index for w in written], failures)


def _not_acknowledged(total: int, acknowledged: list[int], failures: list[tuple[int, KafkaError]]) -> ProblemError:
    first = failures[0][1]
    cause = f"{type(first).__name__}: {first}" if str(first) else type(first).__name__
    extra = {"acknowledged": acknowledged, "unacknowledged": [i for i, _ in failures]}
    which = (
        f"none of the {total} events"
        if not acknowledged
        else f"{len(failures)} of the {total} events (see unacknowledged)"
    )
    why = refusal(first)
    if why in ("too-large", "invalid"):
        return ProblemError(
            413 if why == "too-large" else 422,
            f"Kafka refused {which} ({cause}); sending the same events again will fail again",
            extra=extra,
        )
    if why == "grant":
        return ProblemError(
            500, f"the API's Kafka principal may not write {which} ({cause}): an operator must grant it", extra=extra
        )
    return ProblemError(
        503,
        f"Kafka did not acknowledge {which} ({cause}); the API dropped them and will not send them later. Retry "
        "the same request: an event the broker took before the failure is ignored by its event_id",
        headers={"Retry-After": "5"},
        extra=extra,
    )
