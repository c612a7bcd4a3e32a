"""Every input offset is applied, even when Faust skips one.

Faust 0.15.3 can drop messages it fetched (records of partitions paused for
recovery, or fetched before a seek), and its own commit position then either
stops at the hole or, through its gap filling, moves past it: our SIGKILL test
lost triggers that way, and with several workers the group's lag never came
back to 0. So the worker keeps one ledger of what it applied per partition,
and Faust commits from it. When the next message is further on than the
ledger, the hole is read again with a plain aiokafka consumer and applied
first, inside the same stream step.

Re-reading is safe: the core ignores duplicates and stale events by event id
and event time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ..kafka.clients import KafkaConnection, close_bounded, group_offsets

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One input message, from Faust's stream or from a re-read."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None

    @classmethod
    def from_record(cls, record: Any) -> Incoming:
        """From an aiokafka record (timestamps in milliseconds)."""
        return cls(record.topic, record.partition, record.offset, record.timestamp, record.key, record.value)

    @classmethod
    def all_in(cls, message: Any) -> list[Incoming]:
        """The messages one message of Faust's stream carries: a batch's records (``faust_fixes.RecordBatch``),
        or itself (timestamp in seconds)."""
        if isinstance(message.value, tuple):
            return [cls.from_record(record) for record in message.value]
        ts = message.timestamp
        return [
            cls(
                message.topic,
                message.partition,
                message.offset,
                int(ts * 1000) if ts else None,
                message.key,
                message.value,
            )
        ]


Bound = Callable[[str, str], AbstractContextManager[None]]  # (operation, what it waits for) -> around one wait


def unbounded(what: str, detail: str) -> AbstractContextManager[None]:
    return nullcontext()


class GapReader:
    """Reads offset ranges of input partitions outside any consumer group, and
    the group's committed offsets. Each call is one wait on Kafka inside
    ``bound`` (``Health.bounded``: past its limit the process fails), the wait
    for the lock included: a call stuck behind a stuck one is stuck too."""

    def __init__(self, connection: KafkaConnection, bound: Bound = unbounded) -> None:
        self._connection = connection
        self._bound = bound
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._lock = asyncio.Lock()

    async def committed(self, group: str, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        with self._bound("committed_offsets", f"the committed offsets of {len(tps)} partition(s)"):
            return await self._committed(group, tps)

    async def _committed(self, group: str, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int | None]:
        async with self._lock:
            if self._admin is None:
                admin = self._connection.admin()
                await admin.start()
                self._admin = admin
            found = await group_offsets(self._admin, group, [TopicPartition(*tp) for tp in tps])
        out: dict[tuple[str, int], int | None] = {tp: None for tp in tps}
        for tp, meta in found.items():
            out[(tp.topic, tp.partition)] = meta.offset if meta.offset >= 0 else None
        return out

    async def _ready(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = self._connection.consumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def first_offset(self, topic: str, partition: int) -> int:
        with self._bound("log_start_offset", f"the first offset of {topic}[{partition}]"):
            async with self._lock:
                consumer = await self._ready()
                tp = TopicPartition(topic, partition)
                first: int = (await consumer.beginning_offsets([tp]))[tp]
                return first

    async def end_offsets(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        with self._bound("end_offsets", f"the end offsets of {len(tps)} partition(s)"):
            async with self._lock:
                consumer = await self._ready()
                ends = await consumer.end_offsets([TopicPartition(t, p) for t, p in tps])
                return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Incoming]:
        """Messages with start <= offset < end (fewer where the log has holes)."""
        with self._bound("reread", f"a re-read of {topic}[{partition}] offsets {start}..{end - 1}"):
            return await self._read(topic, partition, start, end)

    async def _read(self, topic: str, partition: int, start: int, end: int) -> list[Incoming]:
        async with self._lock:
            consumer = await self._ready()
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, start)
            out: list[Incoming] = []
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=min(end - start, 5000))
                for record in batch.get(tp, []):
                    if record.offset < end:
                        out.append(Incoming.from_record(record))
            return out

    async def close(self) -> None:
        if self._consumer is not None:
            await close_bounded(self._consumer.stop(), "the gap reader")
            self._consumer = None
        if self._admin is not None:
            await close_bounded(self._admin.close(), "the gap reader's admin client")
            self._admin = None


class OffsetLedger:
    """What this worker has applied, per partition of the topics its agents
    read: the one truth of progress.

    Faust commits what ``next_offset`` says (``faust_fixes.commit_from``), so
    the group's committed offset is the ledger's durable form: a partition's
    entry starts at the committed offset when it is first used after an
    assignment, and is dropped when the partition is revoked. Input topics are
    re-read where Faust skipped messages; control topics are not (their
    commands are sent again by the timers that sent them), their offsets only
    move the commit on."""

    def __init__(self, reader: GapReader, group: str, on_gap: Callable[[str, int], None] | None = None) -> None:
        self._reader = reader
        self._group = group
        self._on_gap = on_gap
        self._next: dict[tuple[str, int], int] = {}  # the next offset to apply
        # the first offset applied but not yet durable (its triggers unacknowledged or its state unwritten):
        # commits stop there until ``durable_to`` moves them on
        self._pending: dict[tuple[str, int], int] = {}
        self._inputs: set[str] = set()
        self._controls: set[str] = set()

    def track(self, inputs: Iterable[str], control: str) -> None:
        self._inputs.update(inputs)
        self._controls.add(control)

    def owns(self, topic: str) -> bool:
        return topic in self._inputs or topic in self._controls

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The offset to commit: everything before it was applied and is durable; None if unknown yet."""
        tp = (topic, partition)
        return self._pending.get(tp, self._next.get(tp))

    def partitions(self) -> list[tuple[str, int]]:
        return list(self._next)

    def applied_offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to apply, per partition in use: everything before it was applied (durable or not)."""
        return dict(self._next)

    def forget(self, tps: Iterable[tuple[str, int]]) -> None:
        """Revoked: another worker may move them on; the committed offset will tell."""
        for tp in tps:
            self._next.pop(tp, None)
            self._pending.pop(tp, None)

    async def start(self, topic: str, partition: int) -> int:
        found = self._next.get((topic, partition))
        if found is None:
            committed = (await self._reader.committed(self._group, [(topic, partition)])).get((topic, partition))
            found = committed if committed is not None else await self._reader.first_offset(topic, partition)
            found = self._next.setdefault((topic, partition), found)  # an await later, another step may have set it
        return found

    def is_next(self, incoming: Incoming) -> bool:
        """The message right after the last one applied (neither a re-read nor after a hole)."""
        return self._next.get((incoming.topic, incoming.partition)) == incoming.offset

    async def is_applied(self, incoming: Incoming) -> bool:
        """True for a message already applied (by a re-read, or before a rebalance moved it back)."""
        return incoming.offset < await self.start(incoming.topic, incoming.partition)

    async def missing_before(self, incoming: Incoming) -> list[Incoming]:
        """The messages of this partition that were skipped before ``incoming``."""
        return await self._missing(incoming.topic, incoming.partition, incoming.offset)

    async def missing_at_end(self, topic: str, partition: int) -> list[Incoming]:
        """Skipped messages at the end of a partition, where no later message
        arrives to reveal the hole (checked when nudged, see ``check``)."""
        end = (await self._reader.end_offsets([(topic, partition)]))[(topic, partition)]
        return await self._missing(topic, partition, end)

    async def _missing(self, topic: str, partition: int, before: int) -> list[Incoming]:
        start = await self.start(topic, partition)
        if before <= start:
            return []
        records = await self._reader.read(topic, partition, start, before)
        log.warning(
            "re-read %d skipped message(s) of %s[%d] at offsets %d..%d",
            len(records),
            topic,
            partition,
            start,
            before - 1,
        )
        if self._on_gap:
            self._on_gap(topic, len(records))
        return records

    async def lag(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Messages after what was applied, per partition."""
        ends = await self._reader.end_offsets(tps) if tps else {}
        return {tp: max(ends[tp] - await self.start(*tp), 0) for tp in tps}

    async def check(
        self, tps: list[tuple[str, int]], previous: dict[tuple[str, int], int]
    ) -> tuple[list[tuple[str, int]], dict[tuple[str, int], int]]:
        """Partitions behind their end offset that made no progress since the
        previous check (``previous`` is updated in place), and the records
        behind the end of each (the consumer lag)."""
        lag = await self.lag(tps)
        stuck = []
        for tp in tps:
            position = await self.start(*tp)
            if lag[tp] > 0 and previous.get(tp) == position:
                stuck.append(tp)
            previous[tp] = position
        return stuck, lag

    def applied(self, incoming: Incoming, durable: bool = True) -> None:
        """``durable=False``: applied in memory only; committed once ``durable_to`` covers it."""
        key = (incoming.topic, incoming.partition)
        if incoming.offset >= self._next.get(key, -1):
            if not durable and key not in self._pending:
                self._pending[key] = self._next.get(key, incoming.offset)
            self._next[key] = incoming.offset + 1

    def mark(self) -> dict[tuple[str, int], int]:
        """Where each partition with pending offsets stands now (for ``durable_to`` after a flush)."""
        return {tp: self._next[tp] for tp in self._pending if tp in self._next}

    def durable_to(self, mark: dict[tuple[str, int], int]) -> None:
        """Everything applied before ``mark`` is durable now."""
        for tp, upto in mark.items():
            pending = self._pending.get(tp)
            if pending is None or pending >= upto:
                continue
            if self._next.get(tp, upto) <= upto:
                del self._pending[tp]
            else:
                self._pending[tp] = upto  # applied since the mark, in order: pending from there

    async def close(self) -> None:
        await self._reader.close()
