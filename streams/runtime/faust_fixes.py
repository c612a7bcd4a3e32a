"""Targeted fixes for the pinned faust-streaming (0.15.3), each proven by a test.

ProducerBuffer.flush: faust flushes the producer before committing offsets, but
the buffer that holds table changelog writes gives up after 0.1 s without
progress (``flush_atmost``) and returns with messages still queued. The offset
commit then overtakes the changelog, and a worker killed right after loses
state for events it will not reprocess; our SIGKILL test saw triggers lost
this way. The fix drains the buffer completely before returning.

Consumer commits (``commit_from``): faust computes the offset to commit from
the messages its streams acknowledged. Messages it dropped itself (fetched for
a partition paused during recovery, or before a seek) are never acknowledged,
so the commit either stops below them for good (its check "min(acked) -
committed > 1") or, on a first commit or through its gap filling, jumps past
them. With several workers the group's lag then stayed above 0 for minutes
(faust issues 216, 312, 318). The fix makes faust commit, for the partitions
our agents read, what the worker's offset ledger says was applied; faust's
own computation stays for any other partition.

Fetch wait (``_worker_consumer``): faust builds its consumer with a fetch wait
of 1.5 s. aiokafka leaves a partition whose fetched records are still waiting
to be consumed out of the next fetch request, and sends one request at a time
per broker: when a stream was busy, the request in flight held only quiet
partitions, and the broker kept it for the full 1.5 s while new events waited
on the busy ones. Each stall brought a larger batch, so it lasted: after a 2 s
pause a live stream at 1,000 events/s kept its triggers 0.9 to 1.8 s behind
their causes for as long as it ran (p50 856 ms; 10 ms without the lock;
``benchmarks/results/live-2026-12-02.txt``). With 100 ms a stall costs at most
that, and the smaller batch it brings is consumed before the next request.

Refused commits (``_commit_offsets``): when the group coordinator refuses a
commit ("already rebalanced": a rebalance under way, a stale generation),
faust returns quietly and still records the offsets as committed, so it never
commits them again: a partition that gets no more input keeps its committed
offset behind what was applied, without a word, until the next restart
replays it. The fix restores what was really committed, so the next commit
retries it, and logs the refusal.

Bounded commits (``bound_commits``): a commit waits for the producer's flush
and then for the consumer thread's commit request, with no bound but Faust's
300 s flight recorder, which only logs. One that never returns makes every
later commit wait on it without a word (``Consumer.commit`` joins the one in
flight) and then hangs the shutdown ("Wait for streams..."). Each commit now
runs inside a bound of the process's health watch (``health``).

Message hand-over (``_wait_first``): the loop that hands each fetched message to the streams awaits
``wait_first(callback(message), suspend_flow.wait())``, which makes four tasks and an ``asyncio.wait`` per
message so that a rebalance can interrupt a hand-over blocked on flow control. Almost every hand-over never
blocks: it is now run one step at once, and only one that blocks goes through ``wait_first`` (interrupted as
before). Faust's own floor went from about 14,000 to 25,000 messages/s
(``benchmarks/results/ab-2026-12-05-handover.txt``).

Batches (``_wait_next_records``): Faust hands each fetched message to its stream on its own: a message built,
a conductor call, a queue put, a queue get, an ack and a ``sleep(0)`` per record, about 40 µs of the worker's
150 per event in the trigger-heavy profile. For the topics the offset ledger owns (which Faust's acks do not
commit), the records one fetch brought for a partition now go to the streams as one message per
``BATCH_RECORDS`` (``RecordBatch``: its value is the records, its offset the last one's), and the agent loops
over them (``Pipeline.input_agent``). A rebalance waits for the batch in hand like for any message in hand
(Faust's ``stream_wait_empty``); batches it drops are re-read by the ledger like dropped messages.

What is not a fix (the typed decorators, the quiet monitor, the producer accessor) is in ``faust_api``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import faust
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from mode.services import Service, WaitResults

log = logging.getLogger("cdp_triggers")
FAUST_VERSION = "0.15.3"
FETCH_MAX_WAIT_MS = 100  # aiokafka's and the Java client's default is 500: see the module's docstring
# Records per batch handed to a stream: a batch is applied without yielding the loop (about 100 µs a record).
BATCH_RECORDS = 200
# Messages a stream's queue holds (Faust's default, 4,096, counts batches now): 8 batches, 1,600 records
STREAM_BUFFER_BATCHES = 8


class CommitSource(Protocol):
    """What has been applied, per partition (the offset ledger)."""

    def owns(self, topic: str) -> bool: ...

    def next_offset(self, topic: str, partition: int) -> int | None: ...

    def partitions(self) -> list[tuple[str, int]]: ...


_SOURCE_ATTRIBUTE = "_cdp_commit_source"
_BOUND_ATTRIBUTE = "_cdp_commit_bound"
_original_force_commit = Consumer.force_commit
_original_commit_offsets = Consumer._commit_offsets
_original_new_offset = Consumer._new_offset
_original_pending = Consumer._filter_tps_with_pending_acks
_original_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer
_original_wait_first = Service.wait_first
_original_wait_next_records = Consumer._wait_next_records


async def _drain_completely(self: ProducerBuffer) -> None:
    while self.size:
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except TimeoutError:
            continue  # slow, not done: keep waiting rather than let the commit overtake


class _Started:
    """The rest of a coroutine whose first step has run and yielded ``pending``, as an awaitable."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Any, pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Any:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation (or any error) the awaiting task throws in
                step, arg = coro.throw, exc
            else:
                step, arg = coro.send, sent
            try:
                pending = step(arg)
            except StopIteration as done:
                return done.value


async def _wait_first(self: Consumer, *coros: Any, timeout: Any = None) -> WaitResults:
    # Only the drain loop calls this on a Consumer: (callback(message), suspend_flow.wait()).
    if len(coros) != 2 or timeout is not None or not asyncio.iscoroutine(coros[0]) or self.suspend_flow.is_set():
        return await _original_wait_first(self, *coros, timeout=timeout)
    handover, flow = coros
    try:
        pending = handover.send(None)
    except StopIteration as done:  # handed over without blocking: the common case
        flow.close()  # never started: closed so that it is not reported as never awaited
        return WaitResults([handover], [done.value], False)
    except BaseException:
        flow.close()
        raise
    return await _original_wait_first(self, _Started(handover, pending), flow)


class RecordBatch:
    """Records of one partition from one fetch, in offset order, as one message for Faust's streams: it reads
    the attributes of a record (``AIOKafkaConsumer._to_message``), ``value`` carries the records (the raw
    codec passes it through) and ``offset`` is the last one's (Faust's read position moves past all of them)."""

    __slots__ = (
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestamp_type",
        "headers",
        "key",
        "value",
        "checksum",
        "serialized_key_size",
        "serialized_value_size",
    )

    def __init__(self, records: list[Any]) -> None:
        last = records[-1]
        self.topic, self.partition, self.offset = last.topic, last.partition, last.offset
        self.timestamp, self.timestamp_type = last.timestamp, last.timestamp_type
        self.headers: list[tuple[str, bytes]] = []
        self.key = None
        self.value = tuple(records)
        self.checksum = None
        self.serialized_key_size = 0
        self.serialized_value_size = sum(r.serialized_value_size for r in records)


def batched(records: list[Any], size: int = BATCH_RECORDS) -> list[RecordBatch]:
    return [RecordBatch(records[i : i + size]) for i in range(0, len(records), size)]


async def _wait_next_records(self: Consumer, timeout: float) -> Any:
    records, active = await _original_wait_next_records(self, timeout)
    source = _source(self)
    if records and source is not None:
        records = {tp: batched(rs) if source.owns(tp.topic) and rs else rs for tp, rs in records.items()}
    return records, active


def _source(consumer: Consumer) -> CommitSource | None:
    return getattr(consumer.app, _SOURCE_ATTRIBUTE, None)


def _new_offset(self: Consumer, tp: TP) -> int | None:
    source = _source(self)
    if source is None or not source.owns(tp.topic):
        return _original_new_offset(self, tp)
    offset = source.next_offset(tp.topic, tp.partition)
    if offset is not None:
        # faust's own bookkeeping below the commit is done with; unpruned it grows without bound
        acked = self._acked[tp]
        if acked:
            done = [o for o in acked if o < offset]
            acked[:] = [o for o in acked if o >= offset]
            self._acked_index[tp].difference_update(done)
        gaps = self._gap.get(tp)
        if gaps:
            gaps.chop(0, offset)
    return offset


def _pending(self: Consumer, topics: Any = None) -> Iterator[TP]:
    # Partitions whose every message was re-read have no faust acks, yet their offsets must move.
    seen = set(_original_pending(self, topics))
    source = _source(self)
    if source is not None:
        for topic, partition in source.partitions():
            tp = TP(topic, partition)
            if topics is None or tp in topics or topic in topics:
                seen.add(tp)
    return iter(seen)


async def _bounded_commit(self: Consumer, *args: Any, **kwargs: Any) -> bool:
    # Every commit, from Faust's timer, a rebalance or the shutdown: one that never returns holds every later
    # commit behind it, silently (``Consumer.commit`` waits on the one in flight), and then the shutdown too.
    bound = getattr(self.app, _BOUND_ATTRIBUTE, None)
    if bound is None:
        done: bool = await _original_force_commit(self, *args, **kwargs)
        return done
    with bound():
        done = await _original_force_commit(self, *args, **kwargs)
        return done


async def _commit_offsets(self: Consumer, offsets: Any, *args: Any, **kwargs: Any) -> bool:
    before = {tp: self._committed_offset.get(tp) for tp in offsets}
    did_commit = await _original_commit_offsets(self, offsets, *args, **kwargs)
    assigned = self.assignment()
    if not did_commit and any(tp in assigned for tp in offsets):
        # Faust records a refused commit as done: restore what was really committed, so the next commit retries
        for tp, offset in before.items():
            self._committed_offset[tp] = offset
        log.warning(
            "the group coordinator refused an offset commit of %d partition(s) (a rebalance under way, or "
            "this member's generation is stale); retrying at the next commit",
            len(offsets),
        )
    return did_commit


def _worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> Any:
    consumer = _original_worker_consumer(self, transport)
    consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by start(), which builds the fetcher
    return consumer


def commit_from(app: faust.App, source: CommitSource) -> None:
    """Commit ``source``'s offsets for the partitions it owns (needs ``apply()``)."""
    setattr(app, _SOURCE_ATTRIBUTE, source)


def bound_commits(app: faust.App, bound: Callable[[], AbstractContextManager[None]]) -> None:
    """Run every offset commit of ``app`` inside ``bound()`` (``Health.bounded``; needs ``apply()``)."""
    setattr(app, _BOUND_ATTRIBUTE, bound)


def apply() -> None:
    if faust.__version__ != FAUST_VERSION:
        raise RuntimeError(
            f"streams.runtime.faust_fixes was written for faust-streaming {FAUST_VERSION}, found {faust.__version__}: "
            "re-check the fixes against the new release (and the SIGKILL and chaos tests) before upgrading"
        )
    # Replacing faust's methods is what this module is for; each ignore below is that.
    ProducerBuffer.flush = _drain_completely  # type: ignore[method-assign]
    Consumer.force_commit = _bounded_commit  # type: ignore[method-assign]
    Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer._filter_tps_with_pending_acks = _pending  # type: ignore[method-assign]
    AIOKafkaConsumerThread._create_worker_consumer = _worker_consumer  # type: ignore[method-assign]
    Consumer.wait_first = _wait_first  # type: ignore[method-assign,assignment]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]


__all__ = ["BATCH_RECORDS", "CommitSource", "RecordBatch", "apply", "bound_commits", "commit_from"]
