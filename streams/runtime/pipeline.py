"""What every agent shares: the Publisher (outputs, acknowledged) and the
Pipeline with the agent skeletons. Agents in ``worker`` and ``delivery`` only
say what to decode, which state to read and which pure function to call."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generic, TypeVar

import faust
import orjson

from schemas.deadletter import DeliveryDeadLetter
from schemas.triggers import TriggerEvent, dataschema_for

from ..detection.ordering import Verdict
from ..detection.trigger import Observation, Trigger
from ..metrics import Metrics
from ..settings import Settings
from ..topics import Topics
from . import control
from .codec import Decoder, Rejected, dead_letter, encode
from .continuity import Incoming, OffsetLedger
from .control import ControlChannel, Nudge
from .faust_fixes import kafka_producer
from .state import StateTable

log = logging.getLogger("cdp_triggers")

RAW = {"key_serializer": "raw", "value_serializer": "raw"}
# Work is made durable (``Pipeline.flush``) after this many sends and state changes, or when the oldest
# waited this long (a timer flushes an idle pipeline too): one acknowledgement round trip per batch.
FLUSH_SIZE = 2000
FLUSH_SECONDS = 0.05
# Changelogs are compacted, but Kafka only compacts closed segments (1 GiB by default): without smaller,
# time-bounded segments a restarted worker replays every write ever made (benchmarks: 167 s for 1M events).
CHANGELOG_CONFIG = {"segment.bytes": str(32 << 20), "segment.ms": str(3600_000), "min.cleanable.dirty.ratio": "0.2"}

S = TypeVar("S")
Handle = Callable[[Incoming], Awaitable[None]]
OnControl = Callable[[control.Command, int], Awaitable[None]]


class Publisher:
    """Sends to the actions and dead-letter topics. Triggers and dead letters
    are not awaited one by one: their acknowledgements are collected and
    ``settle()`` awaits them together, before the state that came with them is
    written (``Pipeline.flush``), so state never gets ahead of the output (see
    the README, 'Delivery guarantees')."""

    def __init__(self, app: faust.App, settings: Settings, topics: Topics, metrics: Metrics) -> None:
        self._actions = app.topic(topics.actions, **RAW)
        self._dead_letter = app.topic(topics.dead_letter, **RAW)
        self._delivery_dead_letter = app.topic(topics.delivery_dead_letter, **RAW)
        self._source = f"/cdp-triggers/{settings.app_id}"
        self._worker = settings.app_id
        self._metrics = metrics
        self._unacked: list[Any] = []  # futures of sends whose acknowledgement is awaited by settle()

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    def take_unacked(self) -> list[Any]:
        taken, self._unacked = self._unacked, []
        return taken

    def envelope(self, trigger: Trigger) -> TriggerEvent:
        return TriggerEvent(
            id=trigger.id,
            source=self._source,
            type=trigger.type,
            subject=trigger.subject,
            time=trigger.time,
            dataschema=dataschema_for(trigger.type),
            data=trigger.data.model_dump(mode="json"),
        )

    async def trigger(self, trigger: Trigger) -> None:
        """Queue a trigger event; its acknowledgement is awaited by the next flush."""
        event = self.envelope(trigger)
        headers = {"content-type": b"application/cloudevents+json", "ce-type": trigger.type.value.encode()}
        sent = await self._queue(self._actions, trigger.subject.encode(), encode(event), headers)
        short, caused = trigger.type.short, trigger.time.timestamp()

        def acknowledged(future: Any) -> None:
            if not future.cancelled() and future.exception() is None:
                self._metrics.triggers.labels(short).inc()
                self._metrics.detection_latency.labels(short).observe(max(time.time() - caused, 0.0))

        sent.add_done_callback(acknowledged)
        self._unacked.append(sent)
        log.debug("trigger %s %s id=%s", trigger.type.short, trigger.subject, trigger.id)  # info cost 7% of CPU

    async def dead_letter(self, msg: Incoming, rejected: Rejected) -> None:
        record = dead_letter(
            rejected,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            timestamp_ms=msg.timestamp_ms,
            key=msg.key,
            value=msg.value,
            worker=self._worker,
        )
        headers = {"reason": rejected.reason.value.encode(), "source-topic": msg.topic.encode()}
        self._unacked.append(await self._queue(self._dead_letter, record.id.encode(), encode(record), headers))
        self._metrics.events_invalid.labels(msg.topic, rejected.reason.value).inc()
        self._metrics.dead_lettered.labels(msg.topic).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s: %s", msg.topic, msg.partition, msg.offset, rejected.reason.value,
            rejected.error[:300],
        )  # fmt: skip

    async def delivery_dead_letter(self, record: DeliveryDeadLetter) -> None:
        headers = {"reason": record.reason.value.encode(), "receiver": record.receiver.encode()}
        await self._send(self._delivery_dead_letter, record.id.encode(), encode(record), headers)

    async def _send(self, topic: Any, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        await (await self._queue(topic, key, value, headers))

    async def _queue(self, topic: Any, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> Any:
        """The send's future, resolved on the broker's acknowledgement; a failure is counted and raised
        (the agent crashes; nothing after the last flush was committed, so it is retried after restart)."""
        name = topic.get_topic_name()
        try:
            sent = await topic.send(key=key, value=value, headers=headers)
        except Exception:
            self._metrics.send_errors.labels(name).inc()
            raise

        def failed(future: Any) -> None:
            if not future.cancelled() and future.exception() is not None:
                self._metrics.send_errors.labels(name).inc()

        sent.add_done_callback(failed)
        return sent


async def write_changelog(producer: Any, topic: str, records: list[tuple[int | None, str, Any]]) -> None:
    """Changelog records (JSON keys and values, as Faust's tables read them back) as one batch per partition."""
    by_partition: dict[int, list[tuple[bytes, bytes | None]]] = {}
    for partition, key, value in records:
        assert partition is not None, "a buffered state write without its partition"
        by_partition.setdefault(partition, []).append((orjson.dumps(key), None if value is None else orjson.dumps(value)))
    for partition, pairs in by_partition.items():
        batch = producer.create_batch()
        for key, value in pairs:
            while batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                await producer.send_batch(batch, topic, partition=partition)
                batch = producer.create_batch()
        await producer.send_batch(batch, topic, partition=partition)


@dataclass(frozen=True)
class Detector(Generic[S]):
    """One detection agent, declared: its inputs, its state and its pure rule."""

    name: str  # the agent: its control topic, offsets table and processing-time label
    table: str  # its state table (and changelog topic): renaming it loses the state
    inputs: dict[str, Any]  # topic -> input model (or union of models)
    key: Callable[[Any], str]  # the entity an event belongs to: its state key
    observe: Callable[[S | None, Any], Observation[S]]
    to_json: Callable[[S], Any]
    from_json: Callable[[Any], S]
    # (event, partition), before its entity's rule: time the event brings to its partition (due stalls)
    before: Callable[[Any, int], Awaitable[None]] | None = None
    applied: Callable[[Any, int], None] = lambda event, partition: None  # (event, partition) once applied
    on_control: OnControl | None = None  # commands beyond nudges (ticks)


@dataclass
class Pipeline:
    """Everything the agents share."""

    app: faust.App
    settings: Settings
    topics: Topics
    metrics: Metrics
    publisher: Publisher
    ledger: OffsetLedger  # what this worker applied; Faust commits from it
    state_tables: dict[str, Any] = field(default_factory=dict)  # name -> Faust table, for the size metric
    # Run to completion before Faust starts (the worker loads its subscriptions here).
    before_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    buffered: list[StateTable[Any]] = field(default_factory=list)  # the tables ``flush`` writes
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _since: float | None = None  # when the oldest unflushed work was done (time.monotonic())

    def pending(self) -> bool:
        return bool(self.publisher.unacked or any(t.dirty for t in self.buffered) or self.ledger.mark())

    async def flush(self) -> None:
        """Make what was applied durable, in the order that loses nothing: await
        the acknowledgements of the triggers and dead letters sent so far, then
        write the state that came with them, then let commits move past them.
        A crash before the end leaves those offsets uncommitted: they are
        applied again, and their triggers repeat under the same ids."""
        async with self._flush_lock:
            mark = self.ledger.mark()
            unacked = self.publisher.take_unacked()
            for table in self.buffered:
                table.begin_flush()
            self._since = None
            if unacked:
                await asyncio.gather(*unacked)
            for table in self.buffered:
                await write_changelog(kafka_producer(self.app), table.changelog_topic, table.end_flush())
            self.ledger.durable_to(mark)  # Faust flushes the producer before it commits

    async def maybe_flush(self) -> None:
        """After each message: flush when enough work waits or the oldest waited long enough."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        size = self.publisher.unacked + sum(t.dirty for t in self.buffered)
        if size >= FLUSH_SIZE or now - self._since >= FLUSH_SECONDS:
            await self.flush()

    def input_topic(self, *names: str) -> Any:
        return self.app.topic(*names, partitions=self.settings.partitions, **RAW)

    def control(self, agent: str) -> ControlChannel:
        return ControlChannel(self.app, self.topics.control(agent))

    def detector(self, spec: Detector[S]) -> StateTable[S]:
        """Register a detection agent: decode or dead-letter, observe, publish
        the triggers (acknowledged), then store the state."""
        decoders = {topic: Decoder(model, self.settings.max_event_bytes) for topic, model in spec.inputs.items()}
        table = self.state(spec.table, spec.to_json, spec.from_json, buffered=True)

        async def handle(msg: Incoming) -> None:
            event = await self.decode(decoders[msg.topic], msg)
            if event is None:
                return
            if spec.before is not None:
                await spec.before(event, msg.partition)
            key = spec.key(event)
            obs = spec.observe(table.get(key), event)
            if not self.applies(msg, obs.verdict):
                return
            spec.applied(event, msg.partition)
            for trigger in obs.triggers:
                await self.publisher.trigger(trigger)
            table.put(key, obs.state, msg.partition)

        self.input_agent(spec.name, list(spec.inputs), handle, spec.on_control)
        return table

    def input_agent(self, name: str, topics: list[str], handle: Handle, on_control: OnControl | None = None) -> Any:
        """An agent applying ``handle`` to every message of ``topics`` in offset
        order, exactly once per worker lifetime, re-reading any that Faust
        skipped (see ``continuity``).

        It also reads its own control topic (same partition count): ``Nudge``
        commands, sent by a timer when an input partition stopped short of its
        end, and any other command for ``on_control`` (with the partition it
        came on, whose state it may change)."""
        ledger = self.ledger
        channel = self.control(name)
        ledger.track(topics, channel.name)
        source = self.input_topic(*topics, channel.name)

        async def process(stream: Any) -> None:
            async for event in stream.events():
                incoming = Incoming.from_faust(event.message)
                if incoming.topic == channel.name:
                    command = control.decode(event.value)
                    if isinstance(command, Nudge):
                        for skipped in await ledger.missing_at_end(command.topic, incoming.partition):
                            await self._apply(name, handle, skipped)
                    elif on_control is not None:
                        await on_control(command, incoming.partition)
                    ledger.applied(incoming, durable=False)
                    await self.maybe_flush()
                    continue
                if await ledger.is_applied(incoming):
                    self.metrics.events_ignored.labels(incoming.topic, "reread").inc()
                    continue
                for skipped in await ledger.missing_before(incoming):
                    await self._apply(name, handle, skipped)
                await self._apply(name, handle, incoming)
                await self.maybe_flush()

        seen: dict[tuple[str, int], int] = {}

        @self.app.timer(interval=self.settings.continuity_check_interval_seconds, name=f"{name}-continuity")
        async def check_continuity() -> None:
            assigned = [(tp.topic, tp.partition) for tp in self.app.consumer.assignment() if tp.topic in topics]
            stuck, lag = await ledger.check(assigned, seen)
            for topic in topics:
                self.metrics.lag.labels(topic).set(sum(n for (t, _), n in lag.items() if t == topic))
            for topic, partition in stuck:
                await channel.send(Nudge(topic), partition)

        return self.app.agent(source, name=name)(process)

    async def decode(self, decoder: Decoder[Any], msg: Incoming) -> Any | None:
        """The validated event, or None once it has been dead-lettered."""
        event = decoder.decode(msg.value)
        if isinstance(event, Rejected):
            await self.publisher.dead_letter(msg, event)
            return None
        return event

    def applies(self, msg: Incoming, verdict: Verdict) -> bool:
        """False, and counted, for a stale or duplicate event."""
        if verdict is Verdict.APPLY:
            return True
        self.metrics.events_ignored.labels(msg.topic, verdict.value).inc()
        return False

    async def _apply(self, agent: str, handle: Handle, incoming: Incoming) -> None:
        started = time.perf_counter()
        self.metrics.events_consumed.labels(incoming.topic).inc()
        await handle(incoming)
        self.ledger.applied(incoming, durable=False)
        self.metrics.processing.labels(agent).observe(time.perf_counter() - started)

    def state(self, name: str, to_json: Callable[[S], Any], from_json: Callable[[Any], S],
              buffered: bool = False) -> StateTable[S]:  # fmt: skip
        """``buffered``: written through ``flush`` (detection state); else at once (delivery records)."""
        table = StateTable(self.table(name), to_json, from_json, buffered)
        if buffered:
            self.buffered.append(table)
        return table

    def table(self, name: str) -> Any:
        """The Faust table behind a ``StateTable``: JSON keys and values, compacted changelog;
        its size is reported in ``cdp_triggers_state_entries``."""
        schema = faust.Schema(key_serializer="json", value_serializer="json")
        table = self.app.Table(name, default=None, partitions=self.settings.partitions, schema=schema,
                               extra_topic_configs=CHANGELOG_CONFIG)  # fmt: skip
        self.state_tables[name] = table
        return table
