"""A compacted topic held in memory: read to its end, then followed.

Subscriptions (workers), hooks (dispatchers, the API) and API keys (the API)
are small keyed sets that every process needs whole, so each process reads
every partition itself (no consumer group) and applies each record to a
callback: a value upserts, a null value (tombstone) deletes.

``caught_up()`` confirms the view holds everything written before the call;
``reached()`` waits for one known write (read-your-writes for the API).
``follow()`` confirms it again every ``CONFIRM_SECONDS``: ``confirmed_at``
then says how current the copy is known to be, and stops moving while the
topic cannot be read (the API refuses to authenticate with a stale key list).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel

from ..settings import Settings
from .clients import KafkaConnection, close_bounded, until_assigned
from .codec import Decoder, Rejected

log = logging.getLogger(__name__)
CONFIRM_SECONDS = 1.0
ASK_TIMEOUT_SECONDS = 10.0  # one look-up of the end offsets; a follower that cannot ask goes on polling
Apply = Callable[[bytes | None, bytes | None], None]  # (key, value); value None: tombstone
OnBatch = Callable[[dict[int, int]], None]  # after each poll: the next offset to read, per partition read (may be none)


class CompactedView:
    def __init__(self, settings: Settings, topic: str, apply: Apply, on_batch: OnBatch | None = None) -> None:
        self.topic = topic
        self._settings = settings
        self._apply = apply
        self._on_batch = on_batch
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()  # one reader at a time: follow() and caught_up() share the consumer
        self.confirmed_at = 0.0  # wall time up to which everything written is known to be applied

    async def load(self, start: dict[int, int] | None = None) -> bool:
        """Read every partition to its end; from ``start`` (partition -> next offset, as ``on_batch`` reported)
        if given (a partition it lacks: from its start). False, and nothing read, when ``start`` does not fit
        the topic (an offset outside a partition): the caller discards what it had and loads from the start."""
        if self._consumer is None:
            self._consumer = KafkaConnection(self._settings).consumer(
                self.topic, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
            )
            await self._consumer.start()
            await until_assigned(self._consumer)
        if start is not None:
            consumer = self._consumer
            tps = sorted(consumer.assignment())
            firsts, ends = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            at = {tp: start.get(tp.partition, firsts[tp]) for tp in tps}  # a partition never read: from its start
            if any(not firsts[tp] <= at[tp] <= ends[tp] for tp in tps):
                log.warning("the local copy of %s does not fit the topic: reading it from the start", self.topic)
                return False
            for tp in tps:
                consumer.seek(tp, at[tp])
        await self.caught_up()
        return True

    async def caught_up(self) -> None:
        """Apply everything written to the topic before this call."""
        consumer = self._require()
        started = time.time()
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        await self._until(lambda positions: all(positions[tp] >= ends[tp] for tp in tps))
        self.confirmed_at = max(self.confirmed_at, started)

    def age(self) -> float:
        """Seconds since this copy was last confirmed to hold everything written to the topic."""
        return time.time() - self.confirmed_at

    def unconfirmed(self, limit: float) -> str | None:
        """Why this copy cannot be trusted as current, when it was last confirmed more than ``limit`` s ago
        (a readiness check); None while it is current."""
        age = self.age()
        if age <= limit:
            return None
        return f"the copy of {self.topic} was last confirmed current {age:.0f} s ago (Kafka does not answer)"

    async def reached(self, partition: int, offset: int, timeout: float = 10.0) -> bool:
        """Wait until the record at ``offset`` of ``partition`` is applied."""
        tp = TopicPartition(self.topic, partition)
        try:
            await asyncio.wait_for(self._until(lambda positions: positions[tp] > offset), timeout)
        except TimeoutError:
            return False
        return True

    async def follow(self) -> None:
        """Apply new records as they come, and confirm the copy current every ``CONFIRM_SECONDS``."""
        target: tuple[float, dict[TopicPartition, int]] | None = None  # (asked at, end offsets then)
        try:
            while True:
                async with self._lock:
                    consumer = self._require()
                    if target is None and time.time() - self.confirmed_at >= CONFIRM_SECONDS:
                        target = await self._ends(consumer)
                    await self._poll()
                    if target is not None and all(
                        [await consumer.position(tp) >= end for tp, end in target[1].items()]
                    ):
                        self.confirmed_at, target = max(self.confirmed_at, target[0]), None
                await asyncio.sleep(0)
        finally:
            await self.close()

    async def _ends(self, consumer: AIOKafkaConsumer) -> tuple[float, dict[TopicPartition, int]] | None:
        asked = time.time()
        try:
            ends = await asyncio.wait_for(consumer.end_offsets(sorted(consumer.assignment())), ASK_TIMEOUT_SECONDS)
        except (TimeoutError, KafkaError) as exc:
            log.warning("cannot confirm that the copy of %s is current: %r", self.topic, exc)
            return None
        return asked, ends

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await close_bounded(consumer.stop(), f"the reader of {self.topic}")

    async def _until(self, done: Callable[[dict[TopicPartition, int]], bool]) -> None:
        consumer = self._require()
        while True:
            async with self._lock:
                positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
                if done(positions):
                    return
                await self._poll()

    async def _poll(self) -> None:
        batches = await self._require().getmany(timeout_ms=200, max_records=5000)
        for records in batches.values():
            for record in records:
                self._apply(record.key, record.value)
        if self._on_batch is not None:  # also when idle: the reader says how recent its copy is
            self._on_batch({tp.partition: records[-1].offset + 1 for tp, records in batches.items() if records})

    def _require(self) -> AIOKafkaConsumer:
        assert self._consumer is not None, "load() first"
        return self._consumer


M = TypeVar("M", bound=BaseModel)


class Records(Generic[M]):
    """Validated records by key, for a ``CompactedView``. A record that does not
    validate, or whose key differs from its own id, is logged and skipped."""

    def __init__(
        self,
        model: type[M],
        id_of: Callable[[M], str],
        max_bytes: int,
        on_invalid: Callable[[str], None] | None = None,
    ) -> None:
        self._decoder: Decoder[M] = Decoder(model, max_bytes)
        self._id_of = id_of
        self._by_id: dict[str, M] = {}
        self._on_invalid = on_invalid
        self.name = model.__name__

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[M]:
        return iter(list(self._by_id.values()))

    def get(self, key: str) -> M | None:
        return self._by_id.get(key)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return self._invalid("record without a key")
        record_id = key.decode("utf-8", errors="replace")
        if value is None:
            self._by_id.pop(record_id, None)
            return None
        decoded = self._decoder.decode(value)
        if isinstance(decoded, Rejected):
            return self._invalid(f"{record_id!r}: {decoded.reason.value}: {decoded.error}")
        if self._id_of(decoded) != record_id:
            return self._invalid(f"key {record_id!r} differs from the record's id {self._id_of(decoded)!r}")
        self._by_id[record_id] = decoded
        return None

    def _invalid(self, message: str) -> None:
        log.error("ignoring invalid %s record: %s", self.name, message)
        if self._on_invalid is not None:
            self._on_invalid(message)
