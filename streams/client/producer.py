"""A small typed producer: change events are pydantic models (validated when
built), and each goes to its topic keyed by its entity id (Java-compatible
murmur2 partitioning, so one entity's events stay on one partition whatever
client wrote earlier ones).

    async with EventProducer(load_settings()) as producer:     # asyncio
        await producer.publish(SegmentChange(...))

    with SyncEventProducer(load_settings()) as producer:        # plain scripts
        producer.publish(SegmentChange(...))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import fastavro
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.structs import RecordMetadata
from pydantic import TypeAdapter, ValidationError

from schemas.errors import invalid
from schemas.events import (
    DataSourceChange,
    MeasureChange,
    RefreshRunChange,
    RefreshRunStarted,
    SegmentChange,
    TaskProgress,
)
from schemas.subscriptions import SubscriptionFile, ThresholdSubscription

from ..kafka.clients import KafkaConnection, MissingTopicsError, close_bounded, require_topics
from ..kafka.codec import avro_body, encode, framed, within
from ..kafka.schema_registry import SchemaRegistry, SchemaType
from ..settings import Settings
from ..topics import Topics

ChangeEvent = DataSourceChange | SegmentChange | MeasureChange | RefreshRunStarted | TaskProgress
# aiokafka's idempotent producer does not recover from a sequence error (OutOfOrderSequenceNumber,
# UnknownProducerId; aiokafka#1017): every later write to the partition fails. A record the broker refused (too
# large), or one expired unacknowledged, leaves it there too, its sequence number spent; so after any failed write
# the producer is renewed.


@dataclass(frozen=True)
class ChangeKind:
    """One kind of change event: its name on the command line, its model, and
    the topic and key it is published with."""

    name: str
    model: Any  # a model, or a union of models
    topic: Callable[[Topics], str]
    key: Callable[[Any], str]

    @property
    def classes(self) -> tuple[type, ...]:
        return get_args(get_args(self.model)[0]) if get_args(self.model) else (self.model,)

    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.model)


CHANGE_KINDS: dict[str, ChangeKind] = {
    k.name: k
    for k in (
        ChangeKind("datasource", DataSourceChange, lambda t: t.datasources, lambda e: e.data_source_id),
        ChangeKind("segment", SegmentChange, lambda t: t.segments, lambda e: e.segment_id),
        ChangeKind("measure", MeasureChange, lambda t: t.measures, lambda e: e.measure_id),
        ChangeKind("run", RefreshRunChange, lambda t: t.runs, lambda e: e.run_id),
    )
}


def kind_of(event: ChangeEvent) -> ChangeKind:
    for kind in CHANGE_KINDS.values():
        if isinstance(event, kind.classes):
            return kind
    raise TypeError(f"not a change event: {type(event).__name__}")


def route(topics: Topics, event: ChangeEvent) -> tuple[str, str]:
    """(topic, key) for a change event."""
    kind = kind_of(event)
    return kind.topic(topics), kind.key(event)


def encoded(record: ChangeEvent | ThresholdSubscription, max_bytes: int) -> bytes:
    """A change event's or subscription's bytes, refused (``TooLarge``) over ``max_bytes``, the limit its
    readers apply (``CDP_MAX_EVENT_BYTES``): checked before anything reaches Kafka."""
    if isinstance(record, ThresholdSubscription):
        what = f"subscription {record.subscription_id!r}"
    else:
        what = f"{type(record).__name__} {record.event_id!r}"
    return within(encode(record), max_bytes, what)


class SubscriptionFileError(Exception):
    """A subscriptions YAML file that cannot be used, with the reason."""


def read_subscription_file(path: Path) -> list[ThresholdSubscription]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SubscriptionFileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SubscriptionFileError(f"{path} is not valid YAML: {exc}") from None
    try:
        subs = SubscriptionFile.model_validate(document).subscriptions
    except ValidationError as exc:
        first = invalid(exc)[0]
        raise SubscriptionFileError(f"{path}: {first.field}: {first.message}") from None
    ids = [s.subscription_id for s in subs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SubscriptionFileError(f"{path}: duplicate subscription_id: {', '.join(duplicates)}")
    return subs


Format = Literal["json", "json-sr", "avro"]
FORMATS: tuple[Format, ...] = get_args(Format)


class EventProducer:
    def __init__(self, settings: Settings, needs: list[str] | None = None, format: Format = "json") -> None:
        """``needs``: the topics that must exist (default: the inputs and subscriptions). ``format``: plain JSON,
        or JSON or Avro in a Schema Registry frame (``CDP_SCHEMA_REGISTRY_URL``): a kind's published schema is
        registered under its topic's subject before its first event is sent (a no-op when it is there)."""
        self._settings = settings
        self._format = format
        self._frames: dict[str, tuple[int, Any]] = {}  # topic -> (schema id, parsed Avro schema or None: JSON)
        self.topics = Topics(settings)
        t = self.topics
        self._needs = needs or [t.datasources, t.segments, t.measures, t.runs, t.subscriptions]
        self._connection = KafkaConnection(settings)
        self._timeout_s = settings.kafka_timeout_seconds
        self._producer = self._new_producer()
        self.max_bytes = settings.max_event_bytes
        self._desynced = False
        self._renewing = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        # request_timeout_ms bounds each request; the wait for acknowledgements is bounded in _written
        return self._connection.producer(
            acks="all", linger_ms=5, enable_idempotence=True, request_timeout_ms=int(self._timeout_s * 1000)
        )

    async def _acknowledged(self, topic: str, value: bytes | None, key: bytes) -> RecordMetadata:
        [outcome] = await self._written([(topic, key, value)])
        if isinstance(outcome, KafkaError):
            raise outcome
        return outcome

    async def _written(self, records: Sequence[tuple[str, bytes, bytes | None]]) -> list[RecordMetadata | KafkaError]:
        """Send every record at once, then wait at most ``CDP_KAFKA_TIMEOUT_SECONDS`` for the acknowledgements:
        each record's metadata, or the error it failed with. aiokafka alone would wait for good while a
        partition's leader is unreachable (it expires a batch only when the leader is unknown)."""
        if self._desynced:
            try:
                await self._renew()
            except KafkaError as exc:
                return [exc] * len(records)
        pending: list[asyncio.Future[RecordMetadata]] = []
        unsent: KafkaError | None = None
        for topic, key, value in records:
            try:
                pending.append(await asyncio.wait_for(self._producer.send(topic, value, key=key), self._timeout_s))
            except TimeoutError:
                unsent = KafkaTimeoutError(f"no room or metadata to send within {self._timeout_s:g} s")
                break
            except KafkaError as exc:  # e.g. no metadata within the timeout: this one and the rest are not sent
                unsent = exc
                break
        if pending:
            await asyncio.wait(pending, timeout=self._timeout_s)
        results: list[RecordMetadata | KafkaError] = []
        for future in pending:
            if not future.done():
                results.append(KafkaTimeoutError(f"not acknowledged within {self._timeout_s:g} s"))
            elif isinstance(error := future.exception(), KafkaError):
                results.append(error)
            elif error is not None:
                raise error
            else:
                results.append(future.result())
        results += [unsent] * (len(records) - len(pending)) if unsent is not None else []
        if any(isinstance(r, KafkaTimeoutError) for r in results):
            await self._discard()  # what is stuck is dropped, other writers' records with it (they are stuck too)
        elif any(isinstance(r, KafkaError) for r in results):
            self._desynced = True  # renewed at the next write; other writers' records in flight still complete
        return results

    async def _discard(self) -> None:
        """Give up this producer after a write timed out: what it still holds is dropped, not sent once the broker
        is back (an answer already said it was not acknowledged), and the next write renews it (see above)."""
        self._desynced = True
        # aiokafka has no abort: stop() flushes. Failing every batch first (a private method of aiokafka 0.14,
        # exercised by tests/api/test_ingest.py) leaves it nothing to flush.
        self._producer._message_accumulator.fail_all(KafkaTimeoutError("given up: not acknowledged in time"))
        with contextlib.suppress(Exception):  # its sender may trip over a failed in-flight batch, and ends
            await asyncio.wait_for(self._producer.stop(), self._timeout_s)

    async def _renew(self) -> None:
        """A new producer (a new producer id starts every partition's sequence afresh); if it cannot start,
        the old one stays and the next write tries again."""
        async with self._renewing:
            if not self._desynced:
                return
            fresh = self._new_producer()
            try:
                await asyncio.wait_for(fresh.start(), self._timeout_s)
            except BaseException as exc:
                await close_bounded(fresh.stop(), "a producer that did not start")
                if isinstance(exc, TimeoutError):
                    raise KafkaTimeoutError(f"no broker answered within {self._timeout_s:g} s") from None
                raise
            old, self._producer = self._producer, fresh
            self._desynced = False
            with contextlib.suppress(TimeoutError):  # already stopped, unless a write failed and stopped it late
                await asyncio.wait_for(old.stop(), self._timeout_s)

    async def __aenter__(self) -> EventProducer:
        try:
            await self._producer.start()
        except Exception:
            await close_bounded(self._producer.stop(), "the producer")  # else aiokafka warns about an unclosed one
            raise

        async def existing() -> set[str]:
            return (await self._producer.client.fetch_all_metadata()).topics()

        try:
            await require_topics(existing, self._needs)
        except MissingTopicsError:
            await close_bounded(self._producer.stop(), "the producer")
            raise
        return self

    async def _framing(self, events: Iterable[ChangeEvent]) -> None:
        """Register the schema of each topic these events go to, once: a subject holds one format, so a producer
        registers only the kinds it writes."""
        from .schemas import published, subject  # it names the kinds of this module

        if self._format == "json":
            return
        schema_type: SchemaType = "AVRO" if self._format == "avro" else "JSON"
        kinds = {kind.topic(self.topics): kind for kind in map(kind_of, events)}
        missing = {topic: kind for topic, kind in kinds.items() if topic not in self._frames}
        if not missing:
            return
        async with SchemaRegistry(self._settings) as registry:
            for topic, kind in missing.items():
                text = published(kind, schema_type)
                schema_id = await registry.register(subject(self._settings, kind), text, schema_type)
                parsed = fastavro.parse_schema(json.loads(text)) if schema_type == "AVRO" else None
                self._frames[topic] = (schema_id, parsed)

    def _value(self, topic: str, event: ChangeEvent) -> bytes:
        """The event's bytes in the producer's format, refused (``TooLarge``) over the readers' limit."""
        if self._format == "json":
            return encoded(event, self.max_bytes)
        schema_id, parsed = self._frames[topic]
        payload = encode(event) if parsed is None else avro_body(parsed, event)
        return within(framed(schema_id, payload), self.max_bytes, f"{type(event).__name__} {event.event_id!r}")

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    def route(self, event: ChangeEvent) -> tuple[str, str]:
        return route(self.topics, event)

    async def publish(self, event: ChangeEvent) -> None:
        """Send and wait for the broker's acknowledgement."""
        await self._framing([event])
        topic, key = self.route(event)
        await self._acknowledged(topic, self._value(topic, event), key.encode())

    async def publish_all(self, events: Sequence[ChangeEvent]) -> list[RecordMetadata | KafkaError]:
        """Send every event at once, then wait for each acknowledgement: its metadata, or the error it failed
        with (a timed-out one may have been written). An event over the limit raises ``TooLarge`` before any is
        sent. Keys and partitions are those of ``publish``; one entity's events keep their order."""
        await self._framing(events)
        records = []
        for event in events:
            topic, key = self.route(event)
            records.append((topic, key.encode(), self._value(topic, event)))
        return await self._written(records)

    async def send(self, event: ChangeEvent) -> None:
        """Queue without waiting for the acknowledgement (call ``flush``): for streams of events."""
        await self._framing([event])
        topic, key = self.route(event)
        await self._producer.send(topic, self._value(topic, event), key=key.encode())

    async def flush(self) -> None:
        await self._producer.flush()

    async def put_record(self, topic: str, key: str, value: bytes | None) -> RecordMetadata:
        """Upsert (or, with None, delete) one record of a compacted topic, acknowledged."""
        if value is not None:
            within(value, self.max_bytes, f"the record {key!r} of {topic}")
        return await self._acknowledged(topic, value, key.encode())

    async def put_subscription(self, sub: ThresholdSubscription) -> RecordMetadata:
        value = encoded(sub, self.max_bytes)  # checked here, to name the subscription rather than the record
        return await self._acknowledged(self.topics.subscriptions, value, sub.subscription_id.encode())

    async def remove_subscription(self, subscription_id: str) -> RecordMetadata:
        return await self.put_record(self.topics.subscriptions, subscription_id, None)


class SyncEventProducer:
    """The same API without asyncio, for ETL scripts: each call blocks until
    the broker acknowledged. Not for use inside a running event loop."""

    def __init__(self, settings: Settings, format: Format = "json") -> None:
        self._loop = asyncio.new_event_loop()
        self._async = self._loop.run_until_complete(_construct(settings, format))

    def __enter__(self) -> SyncEventProducer:
        self._loop.run_until_complete(self._async.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._loop.run_until_complete(self._async.__aexit__())
        finally:
            self._loop.close()

    def publish(self, event: ChangeEvent) -> None:
        self._loop.run_until_complete(self._async.publish(event))

    def put_subscription(self, sub: ThresholdSubscription) -> None:
        self._loop.run_until_complete(self._async.put_subscription(sub))

    def remove_subscription(self, subscription_id: str) -> None:
        self._loop.run_until_complete(self._async.remove_subscription(subscription_id))


async def _construct(settings: Settings, format: Format) -> EventProducer:
    return EventProducer(settings, format=format)  # aiokafka binds to the loop running at construction


class TimedEvent(Protocol):
    @property
    def at(self) -> float: ...  # seconds after the start of play

    @property
    def event(self) -> ChangeEvent: ...


async def play(
    producer: EventProducer,
    events: Iterable[TimedEvent],
    *,
    duration: float | None = None,
    max_events: int | None = None,
    max_rate: float | None = None,
    pace: bool = True,
) -> int:
    """Publish a timed stream: each event at its ``at`` (seconds from now) when
    ``pace``, never faster than ``max_rate`` per second, until ``duration``
    seconds of stream or ``max_events``. Returns how many were published."""
    start = time.monotonic()
    sent = 0
    for timed in events:
        if (max_events is not None and sent >= max_events) or (duration is not None and timed.at > duration):
            break
        due = max(start + timed.at if pace else 0.0, start + sent / max_rate if max_rate else 0.0)
        if due > time.monotonic():
            await producer.flush()
            await asyncio.sleep(due - time.monotonic())
        await producer.send(timed.event)
        sent += 1
    await producer.flush()
    return sent
