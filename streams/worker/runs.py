"""Refresh-run progress -> full refresh completed, unification refresh
completed, refresh run stalled.

Time is event time. Each partition's clock is the latest event time applied
on it; before an event is applied, every run on its partition whose stall
deadline that event's time has reached is stalled, in the stream, as a live
worker would have done at that moment. The clock is state (the ``run-clocks``
table, written with the runs it judged), not memory: after a restart or a
rebalance the partition's next owner goes on from the same time, so a late
run stalls on the same event whatever happened to the workers. A partition
caught up and idle has no events to bring time, so a timer sends ``Tick``
commands with its clock (``detection.runs.partition_clock``: the wall clock,
once idle) to the partition's control topic, and the agent applies them like
any event (Faust writes a table only while processing a message of its
partition). Ticks also evict runs that are done with.
"""

from __future__ import annotations

import heapq
import time
from typing import Any

from schemas.events import RefreshRunChange, RefreshRunStarted

from ..detection import runs
from ..detection.ordering import to_micros
from ..detection.runs import RunState
from ..kafka.control import Command, Tick
from ..runtime.faust_api import receiver, timer
from ..runtime.pipeline import Detector, Pipeline
from ..runtime.state import StateTable


class RunClocks:
    """Event time per runs partition, and the stall deadlines waiting on it: what the runs agent applies
    before each event (``before``) and on each ``Tick`` (``on_tick``), and what the timer checks (``check``)."""

    def __init__(self, p: Pipeline) -> None:
        self._p = p
        self.stall_us = int(p.settings.stall_after_seconds * 1e6)
        self._retention_us = int(p.settings.run_retention_seconds * 1e6)
        self._idle_after_us = int(p.settings.idle_partition_seconds * 1e6)
        self._watermark: dict[int, int] = {}  # partition -> latest event time applied (µs), as in `clocks`
        self._last_input: dict[int, float] = {}  # partition -> when input was last applied (wall clock, s)
        self._deadlines: dict[int, list[tuple[int, str]]] = {}  # partition -> heap of (stall deadline, run id)
        self.table: StateTable[RunState] | None = None  # set once the agent is registered
        # partition -> its clock, under the key clock_key(partition), on that partition's changelog
        # (flushed after the runs it judged: a clock restored ahead of them would stall a run that had finished)
        self.clocks: StateTable[int] = p.state("run-clocks", int, int, buffered=True, after_others=True)

    def _table(self) -> StateTable[RunState]:
        assert self.table is not None, "register() first"
        return self.table

    def _due(self, partition: int) -> list[tuple[int, str]]:
        """The partition's deadline heap, built from the table on first use after an assignment."""
        if partition not in self._deadlines:
            heap = []
            for run_id, entry in self._table().entries():
                deadline = runs.stall_deadline(entry.state, self.stall_us)
                if entry.partition == partition and deadline is not None:
                    heap.append((deadline, run_id))
            heapq.heapify(heap)
            self._deadlines[partition] = heap
        return self._deadlines[partition]

    async def _apply_time(self, run_id: str, now_us: int, partition: int) -> None:
        table = self._table()
        found = table.entry(run_id, partition)
        if found is None:
            return  # already evicted
        result = runs.tick(found.state, now_us, self.stall_us, self._retention_us)
        for trigger in result.triggers:
            await self._p.publisher.trigger(trigger)
        if result.state is None:
            table.delete(run_id, partition)
        elif result.triggers:
            table.put(run_id, result.state, found.partition)

    def clock(self, partition: int) -> int | None:
        """The partition's clock: the latest event time applied on it, by this worker or an earlier owner."""
        if partition not in self._watermark:
            stored = self.clocks.get(clock_key(partition), partition)
            if stored is None:
                return None
            self._watermark[partition] = stored
        return self._watermark[partition]

    async def before(self, event: Any, partition: int) -> None:
        """The time ``event`` brings to its partition: stall every run whose deadline it reached, first."""
        before = self.clock(partition) or 0
        now_us = max(before, to_micros(event.event_time))
        if now_us > before:
            self._watermark[partition] = now_us
            self.clocks.put(clock_key(partition), now_us, partition)
        self._last_input[partition] = time.time()
        heap = self._due(partition)
        while heap and heap[0][0] <= now_us:
            _, run_id = heapq.heappop(heap)
            found = self._table().entry(run_id, partition)
            deadline = runs.stall_deadline(found.state, self.stall_us) if found else None
            if deadline is not None and deadline <= now_us:
                await self._apply_time(run_id, now_us, partition)
            elif deadline is not None:
                heapq.heappush(heap, (deadline, run_id))  # a repeated start moved it on
        if isinstance(event, RefreshRunStarted):
            heapq.heappush(heap, (to_micros(event.event_time) + self.stall_us, event.run_id))

    async def on_tick(self, tick: Command, partition: int) -> None:
        assert isinstance(tick, Tick)
        await self._apply_time(tick.run_id, tick.now_us, partition)

    def forget(self, partitions: list[int]) -> None:
        """Revoked: whoever holds them next reads their clocks from the table and rebuilds their heaps."""
        for partition in partitions:
            for known in (self._watermark, self._last_input, self._deadlines):
                known.pop(partition, None)

    async def check(self, channel: Any) -> None:
        """Send a Tick to every run whose partition's clock has reached one of its deadlines (an idle partition
        follows the wall clock), and report the runs in flight."""
        now = time.time()
        topic = self._p.topics.runs
        assigned = [(tp.topic, tp.partition) for tp in self._p.app.consumer.assignment() if tp.topic == topic]
        lag = await self._p.ledger.lag(assigned)
        clocks = {
            partition: runs.partition_clock(
                int(now * 1e6),
                self.clock(partition),
                lag[(topic, partition)] == 0,
                int((now - self._last_input.setdefault(partition, now)) * 1e6),
                self._idle_after_us,
            )
            for topic, partition in assigned
        }
        in_flight = 0
        for run_id, entry in self._table().entries():
            in_flight += not entry.state.finished
            if entry.partition is None:
                continue
            clock = clocks.get(entry.partition)
            if clock is not None and runs.needs_tick(entry.state, clock, self.stall_us, self._retention_us):
                await channel.send(Tick(run_id, clock), entry.partition, key=run_id)
        self._p.metrics.runs_in_flight.set(in_flight)


def clock_key(partition: int) -> str:
    return f"partition-{partition}"


def register(p: Pipeline) -> RunClocks:
    """The runs agent, its clocks, the timer that ticks idle partitions, and the revocation that resets them."""
    clocks = RunClocks(p)
    clocks.table = p.detector(
        Detector(
            name="runs",
            table="refresh-runs",
            inputs={p.topics.runs: RefreshRunChange},
            key=runs.key,
            observe=lambda state, event, offset: runs.observe(state, event),
            to_json=RunState.to_dict,
            from_json=RunState.from_dict,
            before=clocks.before,
            on_control=clocks.on_tick,
            explain=lambda key, state, partition: runs.explain(state, clocks.stall_us, clocks.clock(partition)),
        )
    )
    channel = p.control("runs")

    @receiver(p.app.on_partitions_revoked)
    async def _forget(sender: Any, revoked: Any, *args: Any, **kwargs: Any) -> None:
        clocks.forget([tp.partition for tp in revoked if tp.topic == p.topics.runs])

    @timer(p.app, p.settings.stall_check_interval_seconds)
    async def check_runs() -> None:
        await clocks.check(channel)

    return clocks
