"""The producer library, both ways (asyncio and plain), round-tripped through
the broker and read back with another client (librdkafka)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from schemas.events import MeasureChange, SegmentChange
from streams.client.producer import EventProducer, SyncEventProducer
from streams.kafka.clients import MissingTopicsError
from streams.topics import Topics
from tests.support.kafka import murmur2_partition

pytestmark = pytest.mark.broker

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_sync_producer_publishes_validated_events_keyed_by_entity(kafka, settings):
    events = [
        SegmentChange(event_id=f"s-{i}", event_time=NOW, segment_id=f"seg-{i}", segment_name="S", member_count=i)
        for i in range(6)
    ]
    with SyncEventProducer(settings) as producer:
        for event in events:
            producer.publish(event)
    records = kafka.read(Topics(settings).segments, until=6, timeout=20)
    assert sorted(r.key().decode() for r in records) == [f"seg-{i}" for i in range(6)]
    for r in records:  # the same partition a Java or librdkafka (murmur2) producer would pick
        assert r.partition() == murmur2_partition(r.key(), settings.partitions)
        assert SegmentChange.model_validate_json(r.value()).segment_id == r.key().decode()


def test_async_producer_round_trip_and_missing_topics(kafka, settings):
    async def go() -> None:
        async with EventProducer(settings) as producer:
            await producer.publish(
                MeasureChange(event_id="m-1", event_time=NOW, measure_id="rev", measure_name="Revenue", value=12.5)
            )
        with pytest.raises(MissingTopicsError, match="never-created.segment-changes"):
            async with EventProducer(settings.model_copy(update={"topic_prefix": "never-created."})):
                pass

    asyncio.run(go())
    [record] = kafka.read(Topics(settings).measures, until=1, timeout=20)
    assert record.key() == b"rev" and MeasureChange.model_validate_json(record.value()).value == 12.5


def test_an_event_over_the_workers_limit_is_refused_before_it_is_sent(kafka, settings):
    from schemas.events import RefreshRunStarted, TaskKind, TaskRef
    from streams.kafka.codec import TooLarge

    small = settings.model_copy(update={"max_event_bytes": 4096})
    tasks = [TaskRef(kind=TaskKind.SEGMENT, name=f"segment-{i:04d}-" + "x" * 40) for i in range(100)]  # ~6 KB
    run = RefreshRunStarted(
        event_id="r-1", event_time=NOW, kind="run_started", run_id="r", trigger="manual", tasks=tasks
    )
    fits = RefreshRunStarted(**{**run.model_dump(), "event_id": "r-2", "tasks": tasks[:10]})

    async def go() -> None:
        async with EventProducer(small) as producer:
            with pytest.raises(
                TooLarge, match=r"RefreshRunStarted 'r-1' is [\d,]+ bytes encoded, over the limit of 4,096"
            ):
                await producer.publish(run)
            await producer.publish(fits)

    asyncio.run(go())
    records = kafka.read(Topics(settings).runs, until=1, timeout=20)
    assert [RefreshRunStarted.model_validate_json(r.value()).event_id for r in records] == ["r-2"]
