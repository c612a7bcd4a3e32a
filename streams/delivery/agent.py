"""Trigger events -> receivers (Teams, email, webhooks).

Each event is routed; every receiver that has not yet taken it gets it, with
retries, concurrently. A delivery is recorded in the ``deliveries`` table (key
``<trigger id>|<receiver>``) as soon as it succeeds, so a replay after a crash
skips it; only a crash between a receiver's answer and that record repeats it,
once, under the same webhook id / Message-ID. A delivery given up goes to the
delivery dead-letter topic and is not recorded: a replay tries it again.

An operator's ``Redelivery`` (``cdp-triggers deliveries redeliver``) comes on
the redeliveries topic, keyed like its trigger event and so on the partition
whose records say whether the receiver took it meanwhile: it takes the same
path to that one receiver, whatever its age, and is recorded the same way.

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

from schemas.deadletter import DeliveryDeadLetter, DeliveryFailure, Redelivery, delivery_id
from schemas.triggers import TriggerEvent, TriggerType

from ..kafka.codec import Decoder
from ..kafka.control import Command, Sweep
from ..runtime.continuity import Incoming
from ..runtime.faust_api import receiver, timer
from ..runtime.pipeline import Pipeline
from ..runtime.state import Entry, StateTable, plain
from ..topics import DISPATCHER_AGENT
from .config import Routes
from .deliver import Delivery, Tried, attempt_record, deliver
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


class Dispatcher:
    """The dispatcher agent's work on one trigger event: route it, deliver it to each receiver that has not
    taken it yet (concurrently, with retries), then record each delivery or give it up."""

    def __init__(self, p: Pipeline, routes: Routes, hooks: HookBook) -> None:
        self._p = p
        self._routes = routes
        self._hooks = hooks
        self._decoder: Decoder[TriggerEvent] = Decoder(TriggerEvent, p.settings.max_event_bytes)
        self._redeliveries: Decoder[Redelivery] = Decoder(Redelivery, p.settings.max_event_bytes * 2)
        self.delivered = delivery_records(p.table("deliveries"))
        self._senders: dict[str, Sender] = {}
        self._session: aiohttp.ClientSession | None = None  # made on first use: it belongs to the running loop
        self._attempts = p.app.topic(p.topics.delivery_attempts, key_serializer="raw", value_serializer="raw")
        self._recording: set[asyncio.Future[Any]] = set()  # attempt records on their way to Kafka

    def kind(self, name: str) -> str:
        return self._routes.receivers[name].spec.kind if name in self._routes.receivers else HOOK_KIND

    def sender(self, name: str) -> Sender | None:
        """None: a hook deleted since the event was routed."""
        if name not in self._routes.receivers:
            return self._hooks.sender(name)
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "cdp-triggers"})
        if name not in self._senders:
            self._senders[name] = make_sender(self._routes.receivers[name], self._session)
        return self._senders[name]

    async def handle(self, msg: Incoming) -> None:
        """The agent's step for one message of the actions or the redeliveries topic."""
        if msg.topic == self._p.topics.redeliveries:
            await self.redeliver(msg)
            return
        if await self._p.decode(self._decoder, msg) is None:
            return
        assert msg.value is not None
        event = orjson.loads(msg.value)
        published = (msg.timestamp_ms or 0) / 1000
        pending = self._pending(event, await self._route(event, published))
        if time.time() - published > self._p.settings.delivery_max_age_seconds:
            for name in pending:
                await self.give_up(name, event, Delivery(0, None, DeliveryFailure.EXPIRED))
            return
        for finished in asyncio.as_completed([self._deliver(name, event, msg.value) for name in pending]):
            name, result = await finished
            await self._settle(name, event, result, msg.partition, published)

    async def redeliver(self, msg: Incoming) -> None:
        """An operator's redelivery: to its one receiver, unless that receiver took the event meanwhile."""
        request = await self._p.decode(self._redeliveries, msg)
        if request is None:
            return
        event, name = request.event, request.receiver
        if not self._pending(event, [name]):
            log.info("not redelivering %s to %s: it was delivered already", event["id"], name)
            return
        raw = orjson.dumps(event)
        name, result = await self._deliver(name, event, raw)
        await self._settle(name, event, result, msg.partition, request.requested_at.timestamp())
        log.info("redelivery of %s to %s asked by %s: %s", event["id"], name, request.requested_by,
                 "cancelled" if result is None else (result.failure or "delivered"))  # fmt: skip

    async def _route(self, event: dict[str, Any], published: float) -> list[str]:
        """The receivers of routes and hooks the event goes to (the hooks view first brought up to date)."""
        facts = Facts.of(event)
        if self._hooks.enabled:
            with self._p.kafka_wait("hooks_refresh", "the hooks topic's end offsets and the records before them"):
                await self._hooks.fresh_for(published)
        names = [*receivers_for(self._routes.file.route, facts), *self._hooks.route(facts, published)]
        if not names:
            self._p.metrics.unrouted.labels(TriggerType(event["type"]).short).inc()
        return names

    def _pending(self, event: dict[str, Any], names: list[str]) -> list[str]:
        """Those of ``names`` that have not taken the event yet (a replay skips the others)."""
        pending = []
        for name in names:
            if self.delivered.get(record_key(event["id"], name)) is None:
                pending.append(name)
            else:
                self._p.metrics.deliveries.labels(self.kind(name), "duplicate").inc()
        return pending

    async def _deliver(self, name: str, event: dict[str, Any], raw: bytes) -> tuple[str, Delivery | None]:
        to = self.sender(name)
        if to is None:
            return name, None
        result = await deliver(to, event, raw, on_attempt=lambda tried: self._attempted(name, event, tried))
        return name, result

    def _attempted(self, name: str, event: dict[str, Any], tried: Tried) -> None:
        """Count the attempt and record it on the attempts topic, without holding up the delivery: a record
        that cannot be written is counted and logged (it is history, not state)."""
        kind = self.kind(name)
        self._p.metrics.delivery_attempts.labels(kind, tried.attempt.result).inc()
        record = attempt_record(name, kind, event, tried).model_dump_json().encode()
        sending = asyncio.ensure_future(self._attempts.send(key=event["id"].encode(), value=record))
        self._recording.add(sending)
        sending.add_done_callback(self._recorded)

    def _recorded(self, sending: asyncio.Future[Any]) -> None:
        self._recording.discard(sending)
        if not sending.cancelled() and sending.exception() is not None:
            self._p.metrics.send_errors.labels(self._p.topics.delivery_attempts).inc()
            log.warning("a delivery attempt was not recorded: %r", sending.exception())

    async def _settle(
        self, name: str, event: dict[str, Any], result: Delivery | None, partition: int, published: float
    ) -> None:
        """Record a delivery (durably, before the next), or give it up, or note a hook deleted meanwhile."""
        m = self._p.metrics
        if result is None:
            m.deliveries.labels(HOOK_KIND, "cancelled").inc()
            log.info("not delivering %s to %s: the hook was deleted", event["id"], name)
        elif result.failure is None:
            self.delivered.put(record_key(event["id"], name), time.time(), partition)
            # Wait for the record's changelog write: a crash can then repeat only deliveries in flight.
            with self._p.kafka_wait("delivery_record", "the acknowledgement of a delivery record's changelog write"):
                await self._p.app.producer.flush()
            m.deliveries.labels(self.kind(name), "delivered").inc()
            m.delivery_latency.labels(self.kind(name)).observe(max(time.time() - published, 0.0))
            log.info("delivered %s to %s after %d attempt(s)", event["id"], name, result.attempts)
        else:
            await self.give_up(name, event, result)

    async def give_up(self, name: str, event: dict[str, Any], result: Delivery) -> None:
        """Write the delivery dead letter (acknowledged) and say so."""
        assert result.failure is not None
        max_age = self._p.settings.delivery_max_age_seconds
        error = result.last.detail if result.last else f"older than {max_age:g} s"
        record = DeliveryDeadLetter(
            id=delivery_id(event["id"], name),
            reason=result.failure,
            receiver=name,
            receiver_type=self.kind(name),
            attempts=result.attempts,
            error=error,
            trigger_id=event["id"],
            event=event,
            dead_lettered_at=datetime.now(UTC),
            dispatcher=self._p.settings.app_id,
        )
        with self._p.kafka_wait("delivery_dead_letter", f"the acknowledgement of delivery dead letter {record.id}"):
            await self._p.publisher.delivery_dead_letter(record)
        self._p.metrics.deliveries.labels(self.kind(name), "dead_lettered").inc()
        self._p.metrics.delivery_dead_lettered.labels(self.kind(name), result.failure.value).inc()
        log.warning(
            "gave up delivering %s to %s after %d attempt(s): %s: %s",
            event["id"],
            name,
            result.attempts,
            result.failure.value,
            error,
        )

    async def on_control(self, command: Command, partition: int) -> None:
        if isinstance(command, Sweep):
            for key in expired_records(self.delivered.entries(), command.partition, command.before):
                self.delivered.delete(key)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self._hooks.close()


def register(p: Pipeline, routes: Routes, hooks: HookBook) -> Dispatcher:
    """The dispatcher agent, its record sweep, and the hooks view it follows."""
    dispatcher = Dispatcher(p, routes, hooks)
    topics = [p.topics.actions, p.topics.redeliveries]
    p.input_agent(DISPATCHER_AGENT, topics, dispatcher.handle, on_control=dispatcher.on_control)
    control = p.control(DISPATCHER_AGENT)

    @timer(p.app, SWEEP_INTERVAL_SECONDS)
    async def sweep() -> None:
        before = time.time() - p.settings.delivery_record_retention_seconds
        for tp in p.app.consumer.assignment():
            if tp.topic == p.topics.actions:  # the redeliveries' partitions are the same ones
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
        await dispatcher.close()

    return dispatcher
