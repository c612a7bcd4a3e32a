"""Every input offset is applied, even when Faust skips one.

Faust 0.15.3 can drop messages it fetched before seeking to the committed
offsets at start-up (and on rebalance), then commit past them: our SIGKILL test
lost triggers that way. So each agent keeps a ledger of the last offset it
applied per input partition, in a table (recovered like any state). When the
next message is further on than ledger + 1, the hole is read again with a
plain aiokafka consumer and applied first, inside the same stream step, so
the offset commit that follows covers work really done.

Re-reading is safe: the core ignores duplicates and stale events by event id
and event time, and a ledger entry lost in a crash only widens a re-read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from .kafka import KafkaConnection
from .state import StateTable

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
    def from_faust(cls, message: Any) -> Incoming:
        ts = message.timestamp
        return cls(message.topic, message.partition, message.offset, int(ts * 1000) if ts else None,
                   message.key, message.value)  # fmt: skip


class GapReader:
    """Reads offset ranges of input partitions, outside any consumer group."""

    def __init__(self, connection: KafkaConnection) -> None:
        self._connection = connection
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = self._connection.consumer(
                group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                isolation_level="read_committed",
            )  # fmt: skip
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def first_offset(self, topic: str, partition: int) -> int:
        async with self._lock:
            consumer = await self._ready()
            tp = TopicPartition(topic, partition)
            return (await consumer.beginning_offsets([tp]))[tp]

    async def end_offsets(self, tps: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        async with self._lock:
            consumer = await self._ready()
            ends = await consumer.end_offsets([TopicPartition(t, p) for t, p in tps])
            return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Incoming]:
        """Messages with start <= offset < end (fewer where the log has holes)."""
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
                        out.append(Incoming(topic, partition, record.offset, record.timestamp, record.key,
                                            record.value))  # fmt: skip
            return out

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class OffsetLedger:
    """The last applied offset per input partition of one agent.

    Kept in memory for every message and written to its table (the changelog)
    only every ``persist_every`` offsets: one record per input message halved
    the worker's throughput. A persisted value that lags only widens the
    re-read after a restart, and re-read messages are duplicates the agents
    ignore; it can never hide a message that was not applied."""

    def __init__(self, table: StateTable[int], reader: GapReader, on_gap: Any = None, persist_every: int = 100) -> None:
        self._table = table
        self._reader = reader
        self._on_gap = on_gap
        self._persist_every = persist_every
        self._applied: dict[str, int] = {}  # only offsets this worker applied, so never ahead of the truth

    def _key(self, topic: str, partition: int) -> str:
        return f"{topic}:{partition}"

    async def missing_before(self, incoming: Incoming) -> list[Incoming]:
        """The messages of this partition that were skipped before ``incoming``."""
        return await self._missing(incoming.topic, incoming.partition, incoming.offset)

    async def missing_at_end(self, topic: str, partition: int) -> list[Incoming]:
        """Skipped messages at the end of a partition, where no later message
        arrives to reveal the hole (checked when nudged, see ``check``)."""
        end = (await self._reader.end_offsets([(topic, partition)]))[(topic, partition)]
        return await self._missing(topic, partition, end)

    async def _missing(self, topic: str, partition: int, before: int) -> list[Incoming]:
        last = self.last(topic, partition)
        start = last + 1 if last is not None else await self._reader.first_offset(topic, partition)
        if before <= start:
            return []
        records = await self._reader.read(topic, partition, start, before)
        log.warning("re-read %d skipped message(s) of %s[%d] at offsets %d..%d", len(records), topic, partition,
                    start, before - 1)  # fmt: skip
        if self._on_gap:
            self._on_gap(topic, len(records))
        return records

    async def check(
        self, tps: list[tuple[str, int]], previous: dict[tuple[str, int], int | None]
    ) -> tuple[list[tuple[str, int]], dict[str, int]]:
        """Partitions behind their end offset that made no progress since the
        previous check (``previous`` is updated in place), and the records
        behind the end per topic (the consumer lag)."""
        if not tps:
            return [], {}
        ends = await self._reader.end_offsets(tps)
        stuck, lag = [], {}
        for tp in tps:
            last = self.last(*tp)
            behind = ends[tp] - (last + 1 if last is not None else 0)
            lag[tp[0]] = lag.get(tp[0], 0) + max(behind, 0)
            if behind > 0 and tp in previous and previous[tp] == last:
                stuck.append(tp)
            previous[tp] = last
        return stuck, lag

    def applied(self, incoming: Incoming) -> None:
        key = self._key(incoming.topic, incoming.partition)
        persisted = self._table.get(key)
        if persisted is not None and incoming.offset <= persisted:
            return
        if incoming.offset > self._applied.get(key, -1):
            self._applied[key] = incoming.offset
        if persisted is None or incoming.offset - persisted >= self._persist_every:
            self._table.put(key, incoming.offset, incoming.partition)

    def last(self, topic: str, partition: int) -> int | None:
        key = self._key(topic, partition)
        persisted, applied = self._table.get(key), self._applied.get(key)
        if persisted is None or applied is None:
            return applied if persisted is None else persisted
        return max(persisted, applied)
