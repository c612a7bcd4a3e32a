"""Taking a ``status.Snapshot`` from Kafka (and the processes' readiness probes): the shell around ``status``.

The consumer groups are sampled twice, ``sample_seconds`` apart, to tell a consumer that progresses from one
that is stuck. The counts of the window are read from the topics themselves (from the offset of the window's
start), so ``status`` needs nothing but Kafka: no Prometheus, no worker's metrics port."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError, for_code

from schemas.deadletter import DeadLetter

from ..kafka.clients import KafkaConnection, close_bounded, group_offsets, require_topic
from ..settings import Settings
from ..topics import Topics
from . import operations
from .status import GroupSample, Member, OldestUndelivered, Probe, Snapshot

PROBE_SECONDS = 5.0
UNKNOWN_TOPIC = 3  # Kafka's UNKNOWN_TOPIC_OR_PARTITION: a topic not created yet (the dispatcher's changelog)


async def take(settings: Settings, window_seconds: float, sample_seconds: float, probes: list[str]) -> Snapshot:
    """Everything ``status`` shows; each read bounded (``operations.READ_SECONDS``)."""
    t = Topics(settings)
    deliveries_changelog = f"{settings.dispatcher_app_id}-deliveries-changelog"
    for topic in (t.actions, t.dead_letter, t.delivery_dead_letter):
        await require_topic(settings, topic)
    groups = {
        settings.app_id: [t.datasources, t.segments, t.measures, t.runs],
        settings.dispatcher_app_id: [t.actions, t.redeliveries],
    }
    connection = KafkaConnection(settings)
    admin = connection.admin(request_timeout_ms=int(operations.READ_SECONDS * 1000))
    consumer = connection.consumer(group_id=None, enable_auto_commit=False)
    await _bounded(admin.start(), "connecting")
    await _bounded(consumer.start(), "connecting")
    try:
        first = [await _bounded(_sample(admin, consumer, g, topics), f"group {g}") for g, topics in groups.items()]
        started = time.monotonic()
        since_ms = int((time.time() - window_seconds) * 1000)
        triggers = await _bounded(_since(admin, consumer, t.actions, since_ms), t.actions)
        dead = await _bounded(_since(admin, consumer, t.dead_letter, since_ms), t.dead_letter)
        changelog = await _bounded(_since(admin, consumer, deliveries_changelog, since_ms), deliveries_changelog)
        registries = {
            name: await _bounded(_live_keys(admin, consumer, topic), topic)
            for name, topic in (("subscriptions", t.subscriptions), ("hooks", t.hooks), ("api keys", t.api_keys))
        }
        replayed = await operations.history(settings)
        all_given_up, delivered = await operations.given_up(settings)
        probed = await asyncio.gather(*(asyncio.to_thread(_probe, url) for url in probes))
        await asyncio.sleep(max(0.0, sample_seconds - (time.monotonic() - started)))
        second = [await _bounded(_sample(admin, consumer, g, topics), f"group {g}") for g, topics in groups.items()]
        dispatchers = next(g for g in second if g.group == settings.dispatcher_app_id)
        oldest = await _bounded(_oldest(consumer, dispatchers, t.actions), "the oldest undelivered trigger")
    finally:
        await close_bounded(consumer.stop(), "the status reader")
        await close_bounded(admin.close(), "the status admin client")

    letters = [DeadLetter.model_validate_json(r.value) for r in dead if r.value is not None]
    per_receiver: dict[str, Counter[str]] = {}
    for record in changelog:
        if record.value is not None and record.key is not None:
            receiver = str(orjson.loads(record.key)).partition("|")[2]
            per_receiver.setdefault(receiver, Counter())["delivered"] += 1
    window_start = datetime.fromtimestamp(since_ms / 1000, UTC)
    for letter in all_given_up:  # read whole once, for the undelivered count too; the window's are counted here
        if letter.dead_lettered_at >= window_start:
            per_receiver.setdefault(letter.receiver, Counter())["given_up"] += 1
    return Snapshot(
        taken_at=datetime.now(UTC),
        window_seconds=window_seconds,
        sample_seconds=sample_seconds,
        groups=list(zip(first, second, strict=True)),
        registries=registries,
        triggers_by_type=dict(Counter(_trigger_type(r) for r in triggers if r.value is not None)),
        dead_letters_by_reason=dict(Counter(d.reason.value for d in letters)),
        dead_letters_unreplayed=sum(d.id not in replayed for d in letters),
        deliveries={receiver: dict(c) for receiver, c in per_receiver.items()},
        undelivered_given_up=sum(d.id not in delivered for d in all_given_up),
        oldest_undelivered=oldest,
        probes=list(probed),
    )


async def _bounded(awaitable: Any, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, operations.READ_SECONDS)
    except TimeoutError:
        raise KafkaTimeoutError(f"{what}: no answer within {operations.READ_SECONDS:g} s") from None


def _tp(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    """The topic's partitions; none when it does not exist (yet)."""
    [described] = await admin.describe_topics([topic])
    if described["error_code"] == UNKNOWN_TOPIC:
        return []
    if described["error_code"]:
        raise for_code(described["error_code"])(f"describing {topic}")
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def _sample(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topics: list[str]) -> GroupSample:
    [response] = await admin.describe_consumer_groups([group])
    described = response.to_object()["groups"][0]
    members = tuple(
        Member(
            client_id=m["client_id"],
            host=m["client_host"].lstrip("/"),
            partitions=tuple(
                f"{topic}/{p}"
                for topic, parts in ConsumerProtocolMemberAssignment.decode(m["member_assignment"]).assignment
                for p in parts
            )
            if m["member_assignment"]
            else (),
        )
        for m in described["members"]
    )
    tps = [tp for topic in topics for tp in await _partitions(admin, topic)]
    committed = await group_offsets(admin, group, tps)
    firsts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    return GroupSample(
        group=group,
        state=described["state"],
        members=members,
        committed={
            _tp(tp): (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else firsts[tp])
            for tp in tps
        },
        ends={_tp(tp): ends[tp] for tp in tps},
    )


async def _since(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, topic: str, since_ms: int
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of ``topic`` written at or after ``since_ms``."""
    tps = await _partitions(admin, topic)
    if not tps:
        return []
    consumer.assign(tps)
    starts = await consumer.offsets_for_times({tp: since_ms for tp in tps})
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        found = starts.get(tp)
        consumer.seek(tp, found.offset if found is not None else ends[tp])
    records: list[ConsumerRecord[bytes, bytes]] = []
    remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
        for tp, batch in batches.items():
            records.extend(r for r in batch if r.offset < ends[tp])
        remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    return records


async def _live_keys(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, topic: str) -> int | None:
    """How many keys a compacted topic holds; None when these credentials may not read it (the hooks topic
    holds callback URLs, and only the API and the dispatchers read it)."""
    try:
        records = await _since(admin, consumer, topic, 0)
    except TopicAuthorizationFailedError:
        return None
    latest = {r.key: r.value for r in records}
    return sum(value is not None for value in latest.values())


async def _oldest(consumer: AIOKafkaConsumer, dispatcher: GroupSample, actions: str) -> OldestUndelivered | None:
    """The oldest trigger event the dispatchers have not yet taken: the first uncommitted one of each partition."""
    waiting = [
        (tp, offset)
        for tp, offset in dispatcher.committed.items()
        if tp.rpartition("/")[0] == actions and offset < dispatcher.ends[tp]
    ]
    found: OldestUndelivered | None = None
    for name, offset in waiting:
        topic, _, partition = name.rpartition("/")
        tp = TopicPartition(topic, int(partition))
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = (await consumer.getmany(tp, timeout_ms=5000, max_records=1)).get(tp, [])
        if batch:
            age = max(0.0, time.time() - batch[0].timestamp / 1000)
            if found is None or age > found.age_seconds:
                found = OldestUndelivered(name, batch[0].offset, round(age, 1))
    return found


def _trigger_type(record: ConsumerRecord[bytes, bytes]) -> str:
    try:
        kind = orjson.loads(record.value or b"").get("type", "?")
    except (orjson.JSONDecodeError, AttributeError):
        return "?"
    # io.cdptriggers.segment.threshold.crossed.v1 -> segment.threshold.crossed
    return str(kind).removeprefix("io.cdptriggers.").rsplit(".v", 1)[0]


def _probe(url: str) -> Probe:
    try:
        with urllib.request.urlopen(url, timeout=PROBE_SECONDS) as answer:
            return Probe(url, True, _reason(answer.read()) or f"HTTP {answer.status}")
    except urllib.error.HTTPError as exc:
        return Probe(url, False, _reason(exc.read()) or f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        return Probe(url, False, f"no answer ({type(exc).__name__}: {exc})")


def _reason(body: bytes) -> str:
    """What a /readyz body says: its reason, or its failing checks, or its status."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace")[:200]
    if not isinstance(parsed, dict):
        return ""
    checks = parsed.get("checks")
    if isinstance(checks, dict) and checks:
        return "; ".join(f"{name}: {why}" for name, why in checks.items())[:300]
    return str(parsed.get("reason") or parsed.get("status") or "")[:300]
