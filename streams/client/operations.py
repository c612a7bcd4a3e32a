"""Reading dead letters, delivery dead letters and delivery records; publishing replays and redeliveries (the
shell around ``deadletters`` and ``deliveries``).

A replay publishes its events first (acknowledged by every in-sync replica), then records them on the replays
topic. A crash between the two leaves the replay unrecorded: running it again publishes the same event ids,
which the worker ignores."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.deadletter import DeadLetter, DeliveryDeadLetter, Redelivery, Replay, ReplayHistory

from ..runtime.compacted import CompactedView
from ..runtime.kafka import require_topic
from ..settings import Settings
from ..topics import Topics
from .deadletters import Prepared
from .producer import EventProducer


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
        await view.load()
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


async def request_redeliveries(settings: Settings, requests: list[tuple[bytes, Redelivery]]) -> None:
    """Ask the dispatcher, acknowledged: keyed like the trigger events, so each lands on its partition."""
    t = Topics(settings)
    async with EventProducer(settings, needs=[t.redeliveries]) as producer:
        for key, request in requests:
            await producer.put_record(t.redeliveries, key.decode(), orjson.dumps(request.model_dump(mode="json")))
