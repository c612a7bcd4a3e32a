"""What every agent shares: the Publisher (outputs, acknowledged) and the
Pipeline with the agent skeletons. Agents in ``worker`` and ``delivery`` only
say what to decode, which state to read and which pure function to call."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypedDict, TypeVar

import faust

from schemas.deadletter import DeadLetterReason, DeliveryDeadLetter
from schemas.explain import ExplainReply
from schemas.triggers import TriggerType

from ..detection.ordering import Verdict
from ..detection.trigger import Observation, Trigger
from ..kafka import control
from ..kafka.clients import Record, partition_for, send_batches
from ..kafka.codec import Decoder, Rejected, dead_letter, encode, encode_trigger, frame_id
from ..kafka.control import Command, Explain, Nudge
from ..kafka.health import Health
from ..kafka.schema_registry import WriterSchemas
from ..metrics import Metrics
from ..settings import Settings
from ..topics import Topics
from . import faust_fixes
from .checkpoint import Checkpoint
from .continuity import Incoming, OffsetLedger
from .faust_api import kafka_producer, timer
from .state import StateTable

log = logging.getLogger("cdp_triggers")


class _Raw(TypedDict):
    key_serializer: str
    value_serializer: str


RAW: _Raw = {"key_serializer": "raw", "value_serializer": "raw"}
# Work is made durable (``Pipeline.flush``) after this many sends and state changes, or when the oldest
# waited this long (a timer flushes an idle pipeline too): one acknowledgement round trip per batch.
FLUSH_SIZE = 2000
FLUSH_SECONDS = 0.05
# While catching up (see BEHIND_SECONDS), nobody waits for a flush's commit: it comes after this long or this
# much work, so that each flush's fixed cost (one round of acknowledgements per topic) is spread over more events.
# Larger flushes ran faster still but made commits lumpy: with 10,000, each flush took 2 to 3.5 s on the shared
# loop and the group's committed offset stood still for up to 4 s (the trigger-heavy shape; about 0.3 s each now).
FLUSH_SIZE_BEHIND = 4000
FLUSH_SECONDS_BEHIND = 0.5
# Queued triggers and dead letters go to the producer after this long or this many: a trigger is readable
# within a few milliseconds of its cause on a quiet stream, and a busy one sends few, large requests.
SEND_SECONDS = 0.005
SEND_SIZE = 500
# While the worker applies messages written more than BEHIND_SECONDS ago (catching up), its triggers wait for
# the backlog anyway: they are sent after SEND_SECONDS_BEHIND, in a tenth of the requests (each request costs
# the worker and the broker CPU; A/B runs: +5% to +18% events/s while catching up).
BEHIND_SECONDS = 1.0
SEND_SECONDS_BEHIND = 0.05
# A background flush still running when twice its size waits: the agent waits for it (back-pressure).
FLUSH_BACKLOG = 2
# Changelogs are compacted, but Kafka only compacts closed segments (1 GiB by default): without smaller,
# time-bounded segments a restarted worker replays every write ever made (benchmarks: 167 s for 1M events).
CHANGELOG_CONFIG = {"segment.bytes": str(32 << 20), "segment.ms": str(3600_000), "min.cleanable.dirty.ratio": "0.2"}

# Per partition DB (one per table and partition): Faust's defaults are 3 x 64 MiB memtables and a 2 GiB block
# cache each. The full benchmark (100,000 entities) ran at 5,789 events/s with 4 MiB memtables and 4,306 with
# 8 MiB, although 8 MiB did better with 10,000 entities (benchmarks/results/ab-2026-12-01.txt); 4 MiB is what
# the full run and its memory phase measured. Reads the small cache misses come from the OS page cache.
ROCKSDB_OPTIONS = {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2, "block_cache_size": 8 << 20}

S = TypeVar("S")
Handle = Callable[[Incoming], Awaitable[None]]
OnControl = Callable[[control.Command, int], Awaitable[None]]


class ControlChannel:
    """Sends commands to one agent's control topic."""

    def __init__(self, app: Any, topic: str) -> None:
        self.name = topic
        self._topic = app.topic(topic, key_serializer="raw", value_serializer="raw")

    async def send(self, command: Command, partition: int, key: str | None = None) -> None:
        await self._topic.send(key=key.encode() if key else None, value=control.encode(command), partition=partition)


class Publisher:
    """Sends to the actions and dead-letter topics. Triggers and dead letters
    are queued per partition and sent as one batch per partition straight to
    Faust's aiokafka producer (``send``: after ``SEND_SECONDS`` or
    ``SEND_SIZE`` records, so a quiet stream still publishes at once), not one
    Faust send each. Their acknowledgements are collected and awaited
    together by ``Pipeline.flush`` before the state that came with them is
    written, so state never gets ahead of the output (see docs/semantics.md,
    'Delivery guarantees')."""

    def __init__(self, app: faust.App, settings: Settings, topics: Topics, metrics: Metrics) -> None:
        self._app = app
        self._actions = topics.actions
        self._dead_letter = topics.dead_letter
        self._delivery_dead_letter = app.topic(topics.delivery_dead_letter, **RAW)
        self._source = f"/cdp-triggers/{settings.app_id}"
        self._worker = settings.app_id
        self._metrics = metrics
        self._partitions: dict[str, int] = {}  # topic -> partition count
        self._partition_of: dict[bytes, int] = {}  # key -> actions partition (murmur2 is pure Python)
        self._outbox: dict[tuple[str, int], list[Record]] = {}
        self._queued = 0
        self._sent_by: dict[TriggerType, list[float]] = {}  # type -> event times of queued triggers
        self._send_lock = asyncio.Lock()
        self._send_due: asyncio.TimerHandle | None = None
        self._unacked: list[Any] = []  # futures of sent batches, awaited by settle()
        self._failure: BaseException | None = None
        self.caused_at_ms: int | None = None  # Kafka timestamp of the message being applied (``send_window``)

    @property
    def unacked(self) -> int:
        return len(self._unacked) + self._queued

    async def trigger(self, trigger: Trigger) -> None:
        """Queue a trigger event; the next flush awaits its acknowledgement."""
        key = trigger.subject.encode()
        partition = self._partition_of.get(key)
        if partition is None:
            partition = await self._partition(self._actions, key)
        headers = [("content-type", b"application/cloudevents+json"), ("ce-type", trigger.type.value.encode())]
        self._queue(
            self._actions,
            partition,
            (key, encode_trigger(trigger, self._source), headers),
            (trigger.type, trigger.time.timestamp()),
        )
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
        key = record.id.encode()
        headers = [("reason", rejected.reason.value.encode()), ("source-topic", msg.topic.encode())]
        self._queue(self._dead_letter, await self._partition(self._dead_letter, key), (key, encode(record), headers))
        self._metrics.events_invalid.labels(msg.topic, rejected.reason.value).inc()
        self._metrics.dead_lettered.labels(msg.topic).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s: %s",
            msg.topic,
            msg.partition,
            msg.offset,
            rejected.reason.value,
            rejected.error[:300],
        )

    async def delivery_dead_letter(self, record: DeliveryDeadLetter) -> None:
        headers = {"reason": record.reason.value.encode(), "receiver": record.receiver.encode()}
        try:
            await (await self._delivery_dead_letter.send(key=record.id.encode(), value=encode(record), headers=headers))
        except Exception:
            self._metrics.send_errors.labels(self._delivery_dead_letter.get_topic_name()).inc()
            raise

    async def _partition(self, topic: str, key: bytes) -> int:
        """The partition the Java client's default partitioner picks for ``key`` (murmur2)."""
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await kafka_producer(self._app).partitions_for(topic))
        partition = partition_for(key, count)
        if topic == self._actions:
            if len(self._partition_of) >= 100_000:
                self._partition_of.clear()
            self._partition_of[key] = partition
        return partition

    def _queue(
        self, topic: str, partition: int, record: Record, trigger: tuple[TriggerType, float] | None = None
    ) -> None:
        self._outbox.setdefault((topic, partition), []).append(record)
        self._queued += 1
        if trigger is not None:
            self._sent_by.setdefault(trigger[0], []).append(trigger[1])
        if self._queued == SEND_SIZE:  # once: the send it schedules takes everything queued by then
            self._send_soon(0)
        elif self._send_due is None:
            self._send_soon(send_window(self.caused_at_ms, time.time()))

    def _send_soon(self, delay: float) -> None:
        if self._send_due is not None:
            self._send_due.cancel()
        self._send_due = asyncio.get_running_loop().call_later(delay, self._send_in_background)

    def _send_in_background(self) -> None:
        self._send_due = None
        asyncio.ensure_future(self.send()).add_done_callback(self._note_failure)

    def _note_failure(self, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is not None and self._failure is None:
            self._failure = done.exception()

    async def send(self) -> None:
        """Hand everything queued to the producer, one batch per partition (ordered: one send at a time)."""
        async with self._send_lock:
            if self._failure is not None:
                raise self._failure
            outbox, self._outbox, self._queued = self._outbox, {}, 0
            sent_by, self._sent_by = self._sent_by, {}
            if self._send_due is not None:
                self._send_due.cancel()
                self._send_due = None
            futures = []
            for (topic, partition), records in outbox.items():
                sent = await send_batches(
                    kafka_producer(self._app), topic, partition, records, self._metrics.send_errors.labels(topic)
                )
                futures += [future for future, _ in sent]
            if sent_by:
                done = asyncio.gather(*futures)
                done.add_done_callback(lambda d: self._acknowledged(d, sent_by))
                self._unacked.append(done)
            else:
                self._unacked += futures

    def _acknowledged(self, done: asyncio.Future[Any], sent_by: dict[TriggerType, list[float]]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        now = time.time()
        for kind, times in sent_by.items():
            self._metrics.triggers.labels(kind.short).inc(len(times))
            latency = self._metrics.detection_latency.labels(kind.short)
            for caused in times:
                latency.observe(max(now - caused, 0.0))

    async def settle(self) -> None:
        """Send what is queued and await every acknowledgement so far; a failure is raised."""
        await self.send()
        unacked, self._unacked = self._unacked, []
        if unacked:
            await asyncio.gather(*unacked)


def behind(written_ms: int | None, now: float) -> bool:
    """Whether the worker is catching up: the message it applies (its Kafka timestamp: when it was produced, or
    appended) is more than BEHIND_SECONDS old."""
    return written_ms is not None and now - written_ms / 1000 > BEHIND_SECONDS


def send_window(written_ms: int | None, now: float) -> float:
    """How long triggers wait for more before they are sent: longer while catching up."""
    return SEND_SECONDS_BEHIND if behind(written_ms, now) else SEND_SECONDS


def flush_size(catching_up: bool) -> int:
    """How much buffered work (records to send, states to write) makes a flush due."""
    return FLUSH_SIZE_BEHIND if catching_up else FLUSH_SIZE


def flush_due(size: int, waited: float, catching_up: bool) -> bool:
    """Whether buffered work of ``size`` whose oldest part waited ``waited`` seconds is to be flushed now."""
    return size >= flush_size(catching_up) or waited >= (FLUSH_SECONDS_BEHIND if catching_up else FLUSH_SECONDS)


@dataclass(frozen=True)
class Detector(Generic[S]):
    """One detection agent, declared: its inputs, its state and its pure rule."""

    name: str  # the agent: its control topic, offsets table and processing-time label
    table: str  # its state table (and changelog topic): renaming it loses the state
    inputs: dict[str, Any]  # topic -> input model (or union of models)
    key: Callable[[Any], str]  # the entity an event belongs to: its state key
    observe: Callable[[S | None, Any, int], Observation[S]]  # (state, event, input offset)
    to_json: Callable[[S], Any]
    from_json: Callable[[Any], S]
    # (event, partition), before its entity's rule: time the event brings to its partition (due stalls)
    before: Callable[[Any, int], Awaitable[None]] | None = None
    applied: Callable[[Any, int], None] = lambda event, partition: None  # (event, partition) once applied
    on_control: OnControl | None = None  # commands beyond nudges (ticks)
    # (key, state, partition): what the state says, for people
    explain: Callable[[str, S | None, int], dict[str, Any]] | None = None


@dataclass
class Pipeline:
    """Everything the agents share."""

    app: faust.App
    settings: Settings
    topics: Topics
    metrics: Metrics
    publisher: Publisher
    ledger: OffsetLedger  # what this worker applied; Faust commits from it
    health: Health  # bounds on waits for Kafka, the loop's heartbeat, /livez and /readyz
    state_tables: dict[str, Any] = field(
        default_factory=dict
    )  # name -> table (anything with a len), for the size metric
    # Run to completion before Faust starts (the worker loads its subscriptions here).
    before_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    writers: WriterSchemas | None = None  # with a Schema Registry: framed values' writer schemas
    buffered: list[StateTable[Any]] = field(default_factory=list)  # the tables ``flush`` writes
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _since: float | None = None  # when the oldest unflushed work was done (time.monotonic())
    _flushing: asyncio.Future[None] | None = None  # the background flush, while it runs
    _consumed: dict[str, Any] = field(default_factory=dict)  # topic -> its events-consumed counter
    _failure: BaseException | None = None  # a flush failed: nothing may be marked durable any more

    def pending(self) -> bool:
        return bool(self.publisher.unacked or any(t.dirty for t in self.buffered) or self.ledger.mark())

    async def flush(self) -> None:
        """Make what was applied durable, in the order that loses nothing (``checkpoint``). A failed flush
        sticks: no later flush may mark durable what it did not finish, the worker must restart from its last
        commit."""
        async with self._flush_lock:
            if self._failure is not None:
                raise self._failure
            try:
                checkpoint = Checkpoint(self.publisher, self.buffered, self.ledger, kafka_producer(self.app))
                self._since = None
                waiting = (
                    f"the acknowledgements of {self.publisher.unacked} trigger and dead-letter record(s) and "
                    f"{checkpoint.records} changelog record(s)"
                )
                with self.kafka_wait("flush", waiting):
                    await checkpoint.commit()
            except BaseException as exc:
                self._failure = exc
                raise

    def _buffered(self) -> int:
        """Work waiting for a flush: records to send and states to write."""
        return self.publisher.unacked + sum(t.dirty for t in self.buffered)

    def _catching_up(self) -> bool:
        return behind(self.publisher.caused_at_ms, time.time())

    def flush_due(self, now: float) -> bool:
        """Whether the work waiting has waited (or grown) enough for a flush (``flush_due``): work nobody
        noted the start of has waited long enough."""
        waited = now - self._since if self._since is not None else math.inf
        return flush_due(self._buffered(), waited, self._catching_up())

    async def maybe_flush(self) -> None:
        """After each batch: when enough work waits or the oldest waited long
        enough, flush in the background (the agent goes on: what it writes
        meanwhile waits for the next flush); wait only when far behind."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        if self._flushing is not None and self._flushing.done():
            done, self._flushing = self._flushing, None
            done.result()  # a failed flush crashes the agent here
        if self.flush_due(now):
            if self._flushing is None:
                self._flushing = asyncio.ensure_future(self.flush())
            elif self._buffered() >= FLUSH_BACKLOG * flush_size(self._catching_up()):
                await asyncio.shield(self._flushing)

    def kafka_wait(self, what: str, detail: str) -> AbstractContextManager[None]:
        """Around a wait on Kafka the process cannot go on without: bounded by ``kafka_timeout_seconds``."""
        return self.health.bounded(what, self.settings.kafka_timeout_seconds, detail)

    async def follow(self, what: str, follow: Callable[[], Awaitable[None]]) -> None:
        """Run a follower (of a compacted topic) for the process's life: if it ends, the process fails, since
        what it keeps current would silently go stale."""
        try:
            await follow()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.health.fail(f"{what} stopped following its topic: {type(exc).__name__}: {exc}", "follower")
        else:
            self.health.fail(f"{what} stopped following its topic", "follower")

    def input_topic(self, *names: str) -> Any:
        topic = self.app.topic(*names, partitions=self.settings.partitions, **RAW)
        # Each message is a batch of records (faust_fixes.RecordBatch): Faust's default queue of 4,096 held
        # 800,000 records, and RSS grew by 300 MiB. App.topic drops its maxsize argument: the attribute it is.
        topic.maxsize = faust_fixes.STREAM_BUFFER_BATCHES
        return topic

    def control(self, agent: str) -> ControlChannel:
        return ControlChannel(self.app, self.topics.control(agent))

    def detector(self, spec: Detector[S]) -> StateTable[S]:
        """Register a detection agent: decode or dead-letter, observe, publish
        the triggers (acknowledged), then store the state."""
        decoders: dict[str, Decoder[Any]] = {
            t: Decoder(m, self.settings.max_event_bytes) for t, m in spec.inputs.items()
        }
        table = self.state(spec.table, spec.to_json, spec.from_json, buffered=True)

        async def handle(msg: Incoming) -> None:
            event = await self.decode(decoders[msg.topic], msg)
            if event is None:
                return
            if spec.before is not None:
                await spec.before(event, msg.partition)
            key = spec.key(event)
            state = table.get(key, msg.partition)
            obs = spec.observe(state, event, msg.offset)
            if not self.applies(msg, obs.verdict):
                if obs.state is not state:  # the ignored event noted in the state's history (explain)
                    table.put(key, obs.state, msg.partition)
                return
            spec.applied(event, msg.partition)
            for trigger in obs.triggers:
                await self.publisher.trigger(trigger)
            table.put(key, obs.state, msg.partition)

        async def on_control(command: Command, partition: int) -> None:
            if isinstance(command, Explain):
                for key in (command.key, *command.keys):
                    state = table.get(key, partition)
                    said = None if spec.explain is None else spec.explain(key, state, partition)
                    await self.answer(command, key, spec.name, list(spec.inputs), partition, said)
            elif spec.on_control is not None:
                await spec.on_control(command, partition)

        self.input_agent(spec.name, list(spec.inputs), handle, on_control)
        return table

    async def answer(
        self, request: Explain, key: str, agent: str, inputs: list[str], partition: int, said: dict[str, Any] | None
    ) -> None:
        """The reply to an explain request about ``key``: what the state says, and up to which input offsets."""
        applied = self.ledger.applied_offsets()
        reply = ExplainReply(
            request_id=request.request_id,
            agent=agent,
            key=key,
            partition=partition,
            explanation=said,
            applied={topic: applied.get((topic, partition)) for topic in inputs},
            worker=self.settings.instance_id or self.settings.app_id,
            answered_at=datetime.now(UTC),
        )
        topic = self.app.topic(self.topics.explain_replies, key_serializer="raw", value_serializer="raw")
        with self.kafka_wait("explain", f"the acknowledgement of the answer to {request.request_id}"):
            await (await topic.send(key=request.request_id.encode(), value=reply.model_dump_json().encode()))

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
        timing = self.metrics.processing.labels(name)
        reread = {topic: self.metrics.events_ignored.labels(topic, "reread") for topic in topics}

        async def process(stream: Any) -> None:
            async for event in stream.events():
                batch = Incoming.all_in(event.message)  # one partition's messages, in offset order
                if batch[0].topic != channel.name:
                    await self._apply_batch(timing, handle, batch, reread[batch[0].topic])
                    await self.maybe_flush()
                    continue
                for incoming in batch:
                    try:
                        command = control.decode(incoming.value or b"")
                    except ValueError as exc:
                        log.warning("%s[%d]@%d: %s", channel.name, incoming.partition, incoming.offset, exc)
                        ledger.applied(incoming, durable=False)
                        continue
                    if isinstance(command, Nudge):
                        skipped = await ledger.missing_at_end(command.topic, incoming.partition)
                        if skipped:
                            await self._apply_batch(timing, handle, skipped, reread[command.topic])
                    elif on_control is not None:
                        await on_control(command, incoming.partition)
                    ledger.applied(incoming, durable=False)
                await self.maybe_flush()

        seen: dict[tuple[str, int], int] = {}

        @timer(self.app, self.settings.continuity_check_interval_seconds, name=f"{name}-continuity")
        async def check_continuity() -> None:
            assigned = [(tp.topic, tp.partition) for tp in self.app.consumer.assignment() if tp.topic in topics]
            stuck, lag = await ledger.check(assigned, seen)
            for topic in topics:
                self.metrics.lag.labels(topic).set(sum(n for (t, _), n in lag.items() if t == topic))
            for topic, partition in stuck:
                await channel.send(Nudge(topic), partition)

        return self.app.agent(source, name=name)(process)

    async def decode(self, decoder: Decoder[Any], msg: Incoming) -> Any | None:
        """The validated event, or None once it has been dead-lettered. With a Schema Registry, a framed value is
        read with its writer schema (fetched once per id)."""
        writer = None
        if self.writers is not None and (schema_id := frame_id(msg.value)) is not None:
            writer = await self.writers.get(schema_id)
            if writer is None:
                where = f"the Schema Registry at {self.settings.schema_registry_url}"
                unknown = Rejected(
                    DeadLetterReason.UNKNOWN_SCHEMA, f"schema id {schema_id} (topic {msg.topic}) is not in {where}"
                )
                await self.publisher.dead_letter(msg, unknown)
                return None
        event = decoder.decode(msg.value, writer)
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

    async def _apply_batch(self, timing: Any, handle: Handle, batch: list[Incoming], reread: Any) -> None:
        """Apply one partition's messages in offset order, each exactly once per worker lifetime: one Faust
        skipped is read again and applied first (``continuity``), one applied already is counted in
        ``reread``. Metrics once per batch."""
        started = time.perf_counter()
        ledger = self.ledger
        publisher = self.publisher
        applied = 0
        for incoming in batch:
            due: tuple[Incoming, ...] = (incoming,)
            if not ledger.is_next(incoming):  # else: the usual case, without a round of awaits
                if await ledger.is_applied(incoming):
                    reread.inc()
                    continue
                due = (*await ledger.missing_before(incoming), incoming)
            for one in due:
                publisher.caused_at_ms = one.timestamp_ms  # the send window is decided once per send, not here
                await handle(one)
                ledger.applied(one, durable=False)
                applied += 1
        topic = batch[0].topic
        consumed = self._consumed.get(topic)
        if consumed is None:  # labels() takes a lock and builds a tuple: once per topic, not per batch
            consumed = self._consumed[topic] = self.metrics.events_consumed.labels(topic)
        consumed.inc(applied)
        timing.observe(time.perf_counter() - started)

    def state(
        self,
        name: str,
        to_json: Callable[[S], Any],
        from_json: Callable[[Any], S],
        buffered: bool = False,
        after_others: bool = False,
    ) -> StateTable[S]:
        """``buffered``: written through ``flush`` (detection state), in the configured store; else at
        once, in memory (delivery records). ``after_others``: a buffered table whose values sum up the other
        tables' (so must never get ahead of them), flushed once theirs are acknowledged."""
        table = StateTable(
            self.table(name, persistent=buffered), to_json, from_json, buffered, self.settings.state_cache_entries
        )
        table.after_others = after_others
        if buffered:
            self.buffered.append(table)
        self.state_tables[name] = table
        return table

    def table(self, name: str, persistent: bool = False) -> Any:
        """The Faust table behind a ``StateTable``: JSON keys and values, compacted changelog;
        its size is reported in ``cdp_triggers_state_entries``. ``persistent``: in RocksDB when
        ``state_store`` says so (only buffered tables: Faust's own writes to it take the current event's
        partition)."""
        schema: faust.Schema[Any, Any] = faust.Schema(key_serializer="json", value_serializer="json")
        store: dict[str, Any] = {}
        if persistent and self.settings.state_store == "rocksdb":
            # "rocksdb:<name>": Faust reads a bare "rocksdb://" as no store at all (an empty URL is false)
            store = {"store": f"rocksdb:{name}", "options": dict(ROCKSDB_OPTIONS)}
        table = self.app.Table(
            name,
            default=None,
            partitions=self.settings.partitions,
            schema=schema,
            extra_topic_configs=CHANGELOG_CONFIG,
            **store,
        )
        self.state_tables[name] = table
        return table
