"""Reading dead letters, delivery dead letters and delivery records; publishing replays and redeliveries (the
shell around ``deadletters`` and ``deliveries``).

A replay publishes its events first (acknowledged by every in-sync replica), then records them on the replays
topic. A crash between the two leaves the replay unrecorded: running it again publishes the same event ids,
which the worker ignores."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord

from schemas.audit import Change
from schemas.deadletter import DeadLetter, DeliveryAttempt, DeliveryDeadLetter, Redelivery, Replay, ReplayHistory
from schemas.triggers import TriggerEvent

from ..kafka.clients import KafkaConnection, close_bounded, require_topic, until_assigned
from ..kafka.compacted import CompactedView
from ..settings import Settings
from ..topics import Topics
from . import deadletters, deliveries
from .deadletters import Prepared
from .producer import EventProducer

READ_SECONDS = 60.0  # one topic read to its end: the operations' topics are small; a broker that does not answer


async def _read_whole(settings: Settings, topic: str) -> dict[str, bytes]:
    """The latest value under each key of ``topic``, read to its end."""
    found: dict[str, bytes] = {}

    def apply(key: Any, value: Any) -> None:
        if key is not None:
            if value is None:
                found.pop(key.decode(), None)
            else:
                found[key.decode()] = value

    view = CompactedView(settings, topic, apply)
    try:
        await asyncio.wait_for(view.load(), READ_SECONDS)
    except TimeoutError:
        raise KafkaTimeoutError(f"{topic} was not read to its end within {READ_SECONDS:g} s") from None
    finally:
        await view.close()
    return found


async def dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every dead letter on the topic, once each (a worker's replay repeats one under its id)."""
    t = Topics(settings)
    await require_topic(settings, t.dead_letter)
    return [DeadLetter.model_validate_json(v) for v in (await _read_whole(settings, t.dead_letter)).values()]


async def history(settings: Settings) -> dict[str, list[Replay]]:
    """Each dead letter's replays, oldest first."""
    t = Topics(settings)
    await require_topic(settings, t.dead_letter_replays)
    records = await _read_whole(settings, t.dead_letter_replays)
    return {key: ReplayHistory.model_validate_json(value).replays for key, value in records.items()}


async def publish(settings: Settings, prepared: list[Prepared], previous: dict[str, list[Replay]]) -> None:
    """Publish every replayed event, acknowledged, then record each replay after those before it."""
    t = Topics(settings)
    async with EventProducer(settings, needs=[*{p.topic for p in prepared}, t.dead_letter_replays]) as producer:
        for p in prepared:
            await producer.put_record(p.topic, p.key.decode(), p.value)
        for p in prepared:
            replays = [*previous.get(p.letter.id, []), p.replay]
            value = orjson.dumps(ReplayHistory(replays=replays).model_dump(mode="json"))
            await producer.put_record(t.dead_letter_replays, p.letter.id, value)


async def replay(
    settings: Settings,
    choice: deadletters.Choice,
    fixes: dict[str, bytes],
    by: str,
    force: bool = False,
    dry_run: bool = False,
) -> list[Prepared]:
    """Replay what ``choice`` (or the fixes) takes: all of it or nothing (ChoiceError, ReplayRefused)."""
    letters, previous = await dead_letters(settings), await history(settings)
    chosen = deadletters.choose(letters, choice, fixes)
    topics = Topics(settings)
    at = datetime.now(UTC)
    prepared = deadletters.prepare(chosen, fixes, previous, topics, settings.max_event_bytes, by, at, force)
    if not dry_run:
        await publish(settings, prepared, previous)
    return prepared


async def delivery_dead_letters(settings: Settings) -> list[DeliveryDeadLetter]:
    """The newest delivery dead letter of each delivery (a trigger event and a receiver)."""
    t = Topics(settings)
    await require_topic(settings, t.delivery_dead_letter)
    records = await _read_whole(settings, t.delivery_dead_letter)
    return [DeliveryDeadLetter.model_validate_json(v) for v in records.values()]


async def delivered(settings: Settings) -> set[str]:
    """The deliveries the dispatcher has recorded (and not yet swept): its deliveries table's changelog."""
    topic = f"{settings.dispatcher_app_id}-deliveries-changelog"
    await require_topic(settings, topic)
    return {orjson.loads(key) for key in await _read_whole(settings, topic)}


async def given_up(settings: Settings) -> tuple[list[DeliveryDeadLetter], set[str]]:
    """The delivery dead letters, and which of them were delivered since. With none, the delivery records are not
    read: they exist once a dispatcher has run, and a new deployment has given up nothing."""
    letters = await delivery_dead_letters(settings)
    return letters, (await delivered(settings) if letters else set())


async def request_redeliveries(settings: Settings, requests: list[tuple[bytes, Redelivery]]) -> None:
    """Ask the dispatcher, acknowledged: keyed like the trigger events, so each lands on its partition."""
    t = Topics(settings)
    async with EventProducer(settings, needs=[t.redeliveries]) as producer:
        for key, request in requests:
            await producer.put_record(t.redeliveries, key.decode(), orjson.dumps(request.model_dump(mode="json")))


async def redeliver(settings: Settings, choice: deliveries.Choice, by: str, dry_run: bool = False) -> deliveries.Plan:
    """Ask for what ``choice`` takes (ChoiceError when nothing or an unknown id), except what was delivered since;
    ``dry_run``: only say what that would be."""
    letters, done = await given_up(settings)
    todo = deliveries.plan(deliveries.choose(letters, choice), done, by, datetime.now(UTC))
    if todo.requests and not dry_run:
        await request_redeliveries(settings, todo.requests)
    return todo


async def attempts(
    settings: Settings, since: datetime, receiver: str | None = None, trigger_id: str | None = None
) -> list[DeliveryAttempt]:
    """Every delivery attempt recorded at or after ``since`` (of ``receiver``, of ``trigger_id``, when given),
    oldest first."""
    found: list[bytes] = []
    await _read_since(
        settings, Topics(settings).delivery_attempts, since, "the attempts reader", lambda r: found.append(r.value)
    )
    tried = (DeliveryAttempt.model_validate_json(value) for value in found)
    chosen = (
        a for a in tried if a.at >= since and receiver in (None, a.receiver) and trigger_id in (None, a.trigger_id)
    )
    return sorted(chosen, key=lambda a: a.at)


async def changes(settings: Settings, since: datetime) -> list[Change]:
    """The audit trail from ``since``: every change made through the API or its console, oldest first."""
    found: list[Change] = []
    await _read_since(
        settings,
        Topics(settings).audit,
        since,
        "the audit reader",
        lambda r: found.append(Change.model_validate_json(r.value)),
    )
    return sorted((c for c in found if c.at >= since), key=lambda c: c.at)


async def recent_triggers(
    settings: Settings, since: datetime, keep: Callable[[TriggerEvent], bool], limit: int
) -> list[TriggerEvent]:
    """The trigger events written to the actions topic since ``since`` that ``keep`` takes, latest first, at most
    ``limit`` (the latest)."""
    latest: deque[TriggerEvent] = deque(maxlen=limit)  # memory: the limit, however many were written

    def take(record: ConsumerRecord[Any, bytes]) -> None:
        event = TriggerEvent.model_validate_json(record.value)
        if event.time >= since and keep(event):
            latest.append(event)

    await _read_since(settings, Topics(settings).actions, since, "the actions reader", take)
    return sorted(latest, key=lambda e: e.time, reverse=True)


@dataclass(frozen=True)
class RecentRun:
    run_id: str
    events: int  # on the runs topic since the time asked
    last_at: datetime  # the record time of its latest


RUNS_TRACKED = 10_000  # distinct runs held while reading, whatever the topic holds


async def recent_runs(settings: Settings, since: datetime, limit: int) -> list[RecentRun]:
    """The refresh runs with events on the runs topic since ``since`` (by the record key, the run id), the latest
    first, at most ``limit``; the events are not decoded, so a framing or a malformed event changes nothing."""
    seen: dict[str, tuple[int, int]] = {}  # run id -> (events, latest record time in ms)
    floor = int(since.timestamp() * 1000)

    def take(record: ConsumerRecord[Any, bytes]) -> None:
        if record.key is None or record.timestamp < floor:
            return
        run_id = record.key.decode(errors="replace")
        events, latest = seen.get(run_id, (0, 0))
        seen[run_id] = (events + 1, max(latest, record.timestamp))
        if len(seen) > RUNS_TRACKED:  # partitions are read one after another: keep the newest, not the first read
            for dropped in sorted(seen, key=lambda r: seen[r][1])[: len(seen) - limit]:
                del seen[dropped]

    await _read_since(settings, Topics(settings).runs, since, "the runs reader", take)
    newest = sorted(seen.items(), key=lambda item: item[1][1], reverse=True)[:limit]
    return [RecentRun(r, n, datetime.fromtimestamp(ms / 1000, UTC)) for r, (n, ms) in newest]


async def _read_since(
    settings: Settings, topic: str, since: datetime, what: str, take: Callable[[ConsumerRecord[Any, bytes]], None]
) -> None:
    """Each record written to ``topic`` from ``since`` (by record time) to its end now, to ``take``, in partition
    order; tombstones skipped; read within ``READ_SECONDS``."""
    await require_topic(settings, topic)
    # without a group, a consumer given the topic is assigned all of its partitions
    consumer = KafkaConnection(settings).consumer(topic, group_id=None, enable_auto_commit=False)
    try:
        await asyncio.wait_for(consumer.start(), READ_SECONDS)
        async with asyncio.timeout(READ_SECONDS):  # every await of the read, its offset look-ups included
            partitions = await until_assigned(consumer, READ_SECONDS)
            starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                start = starts.get(tp)
                consumer.seek(tp, start.offset if start is not None else ends[tp])
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        if record.value is not None:
                            take(record)
    except TimeoutError:
        raise KafkaTimeoutError(f"{topic} was not read to its end within {READ_SECONDS:g} s") from None
    finally:
        await close_bounded(consumer.stop(), what)
