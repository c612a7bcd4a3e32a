"""Trigger events -> receivers (Teams, email, webhooks).

Each event is routed; every receiver that has not yet taken it gets it, with
retries, concurrently. A delivery is recorded in the ``deliveries`` table (key
``<trigger id>|<receiver>``) as soon as it succeeds, so a replay after a crash
skips it; only a crash between a receiver's answer and that record repeats it,
once, under the same webhook id / Message-ID. A delivery given up goes to the
delivery dead-letter topic and is not recorded: a replay tries it again.

Records are dropped after ``CDP_DELIVERY_RECORD_RETENTION_SECONDS`` by
``Sweep`` commands sent through the agent's control topic (Faust allows table
writes only while processing a message); each sweep only touches records of
its own partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from schemas.deadletter import DeliveryDeadLetter, DeliveryFailure, delivery_id
from schemas.triggers import TriggerEvent, TriggerType

from ..runtime.codec import Decoder
from ..runtime.continuity import Incoming
from ..runtime.control import Command, Sweep
from ..runtime.faust_fixes import receiver, timer
from ..runtime.pipeline import Pipeline
from ..runtime.state import Entry, StateTable, plain
from ..topics import DISPATCHER_AGENT
from .config import Routes
from .deliver import Delivery, deliver
from .hooks import KIND as HOOK_KIND
from .hooks import HookBook
from .receivers import Sender, make_sender
from .routing import Facts, receivers_for

log = logging.getLogger("cdp_triggers.dispatcher")
SWEEP_INTERVAL_SECONDS = 600.0


record_key = delivery_id  # the delivery record of a trigger event and receiver


def expired_records(entries: Iterable[tuple[str, Entry[float]]], partition: int, before: float) -> list[str]:
    """Keys of records stored from ``partition`` and delivered before ``before``."""
    return [key for key, entry in entries if entry.partition == partition and entry.state < before]


def delivery_records(table: Any) -> StateTable[float]:
    """Record key -> when it was delivered (epoch seconds)."""
    # {"p", "at"}: records written by 0.1
    return StateTable(table, plain, lambda raw: float(raw["at"] if isinstance(raw, dict) else raw))


def register(p: Pipeline, routes: Routes, hooks: HookBook) -> None:
    decoder: Decoder[TriggerEvent] = Decoder(TriggerEvent, p.settings.max_event_bytes)
    delivered = delivery_records(p.table("deliveries"))
    control = p.control(DISPATCHER_AGENT)
    m = p.metrics
    senders: dict[str, Sender] = {}
    sessions: list[aiohttp.ClientSession] = []

    def kind(name: str) -> str:
        return routes.receivers[name].spec.kind if name in routes.receivers else HOOK_KIND

    def sender(name: str) -> Sender | None:
        """None: a hook deleted since the event was routed."""
        if name not in routes.receivers:
            return hooks.sender(name)
        if not sessions:  # created on first use: it must belong to the running loop
            sessions.append(aiohttp.ClientSession(headers={"User-Agent": "cdp-triggers"}))
        if name not in senders:
            senders[name] = make_sender(routes.receivers[name], sessions[0])
        return senders[name]

    async def handle(msg: Incoming) -> None:
        if await p.decode(decoder, msg) is None:
            return
        assert msg.value is not None
        event = orjson.loads(msg.value)
        facts = Facts.of(event)
        published = (msg.timestamp_ms or 0) / 1000
        if hooks.enabled:
            with p.kafka_wait("hooks_refresh", "the hooks topic's end offsets and the records before them"):
                await hooks.fresh_for(published)
        names = [*receivers_for(routes.file.route, facts), *hooks.route(facts, published)]
        if not names:
            m.unrouted.labels(TriggerType(event["type"]).short).inc()
            return
        pending = []
        for name in names:
            if delivered.get(record_key(event["id"], name)) is None:
                pending.append(name)
            else:
                m.deliveries.labels(kind(name), "duplicate").inc()
        if time.time() - published > p.settings.delivery_max_age_seconds:
            for name in pending:
                await _give_up(name, event, Delivery(0, None, DeliveryFailure.EXPIRED))
            return

        async def one(name: str) -> tuple[str, Delivery | None]:
            to = sender(name)
            if to is None:
                return name, None
            result = await deliver(
                to,
                event,
                msg.value or b"",
                on_attempt=lambda a: m.delivery_attempts.labels(kind(name), a.result).inc(),
            )
            return name, result

        for finished in asyncio.as_completed([one(name) for name in pending]):
            name, result = await finished
            if result is None:
                m.deliveries.labels(HOOK_KIND, "cancelled").inc()
                log.info("not delivering %s to %s: the hook was deleted", event["id"], name)
            elif result.failure is None:
                delivered.put(record_key(event["id"], name), time.time(), msg.partition)
                # Wait for the record's changelog write: a crash can then repeat only deliveries in flight.
                with p.kafka_wait("delivery_record", "the acknowledgement of a delivery record's changelog write"):
                    await p.app.producer.flush()
                m.deliveries.labels(kind(name), "delivered").inc()
                m.delivery_latency.labels(kind(name)).observe(max(time.time() - published, 0.0))
                log.info("delivered %s to %s after %d attempt(s)", event["id"], name, result.attempts)
            else:
                await _give_up(name, event, result)

    async def _give_up(name: str, event: dict[str, Any], result: Delivery) -> None:
        assert result.failure is not None
        error = result.last.detail if result.last else f"older than {p.settings.delivery_max_age_seconds:g} s"
        record = DeliveryDeadLetter(
            id=delivery_id(event["id"], name),
            reason=result.failure,
            receiver=name,
            receiver_type=kind(name),
            attempts=result.attempts,
            error=error,
            trigger_id=event["id"],
            event=event,
            dead_lettered_at=datetime.now(UTC),
            dispatcher=p.settings.app_id,
        )
        with p.kafka_wait("delivery_dead_letter", f"the acknowledgement of delivery dead letter {record.id}"):
            await p.publisher.delivery_dead_letter(record)
        m.deliveries.labels(kind(name), "dead_lettered").inc()
        m.delivery_dead_lettered.labels(kind(name), result.failure.value).inc()
        log.warning(
            "gave up delivering %s to %s after %d attempt(s): %s: %s",
            event["id"],
            name,
            result.attempts,
            result.failure.value,
            error,
        )

    async def on_control(command: Command, partition: int) -> None:
        if isinstance(command, Sweep):
            for key in expired_records(delivered.entries(), command.partition, command.before):
                delivered.delete(key)

    p.input_agent(DISPATCHER_AGENT, [p.topics.actions], handle, on_control=on_control)

    @timer(p.app, SWEEP_INTERVAL_SECONDS)
    async def sweep() -> None:
        before = time.time() - p.settings.delivery_record_retention_seconds
        for tp in p.app.consumer.assignment():
            if tp.topic == p.topics.actions:
                await control.send(Sweep(tp.partition, before), tp.partition)

    if hooks.enabled:

        async def load_hooks() -> None:
            await hooks.view.load()

        p.before_start.append(load_hooks)
        p.health.add_check("hooks", lambda: hooks.view.unconfirmed(p.settings.progress_timeout_seconds))

        @p.app.task
        async def follow_hooks() -> None:
            await p.follow("the hooks view", hooks.view.follow)

    @receiver(p.app.on_before_shutdown)
    async def _close_session(sender: Any, *args: Any, **kwargs: Any) -> None:
        if sessions:
            await sessions[0].close()
        await hooks.close()
