"""Refresh-run progress -> full refresh completed, unification refresh
completed, refresh run stalled.

Time is event time. Each partition's clock is the latest event time applied
on it; before an event is applied, every run on its partition whose stall
deadline that event's time has reached is stalled, in the stream, as a live
worker would have done at that moment. A partition caught up and idle has no
events to bring time, so a timer sends ``Tick`` commands with its clock
(``detection.runs.partition_clock``: the wall clock, once idle) to the
partition's control topic, and the agent applies them like any event (Faust
writes a table only while processing a message of its partition). Ticks also
evict runs that are done with.
"""

from __future__ import annotations

import heapq
import time
from typing import Any

from schemas.events import RefreshRunChange, RefreshRunStarted

from ..detection import runs
from ..detection.ordering import to_micros
from ..detection.runs import RunState
from ..runtime.control import Command, Tick
from ..runtime.faust_fixes import receiver, timer
from ..runtime.pipeline import Detector, Pipeline
from ..runtime.state import StateTable


def register(p: Pipeline) -> None:
    stall_us = int(p.settings.stall_after_seconds * 1e6)
    retention_us = int(p.settings.run_retention_seconds * 1e6)
    idle_after_us = int(p.settings.idle_partition_seconds * 1e6)
    watermark: dict[int, int] = {}  # partition -> latest event time applied (µs)
    last_input: dict[int, float] = {}  # partition -> when input was last applied (wall clock, s)
    deadlines: dict[int, list[tuple[int, str]]] = {}  # partition -> heap of (stall deadline, run id)
    table: StateTable[RunState]

    def due(partition: int) -> list[tuple[int, str]]:
        """The partition's deadline heap, built from the table on first use after an assignment."""
        if partition not in deadlines:
            heap = []
            for run_id, entry in table.entries():
                deadline = runs.stall_deadline(entry.state, stall_us)
                if entry.partition == partition and deadline is not None:
                    heap.append((deadline, run_id))
            heapq.heapify(heap)
            deadlines[partition] = heap
        return deadlines[partition]

    async def apply_time(run_id: str, now_us: int, partition: int) -> None:
        found = table.entry(run_id, partition)
        if found is None:
            return  # already evicted
        result = runs.tick(found.state, now_us, stall_us, retention_us)
        for trigger in result.triggers:
            await p.publisher.trigger(trigger)
        if result.state is None:
            table.delete(run_id, partition)
        elif result.triggers:
            table.put(run_id, result.state, found.partition)

    async def before(event: Any, partition: int) -> None:
        now_us = max(watermark.get(partition, 0), to_micros(event.event_time))
        watermark[partition] = now_us
        last_input[partition] = time.time()
        heap = due(partition)
        while heap and heap[0][0] <= now_us:
            _, run_id = heapq.heappop(heap)
            found = table.entry(run_id, partition)
            deadline = runs.stall_deadline(found.state, stall_us) if found else None
            if deadline is not None and deadline <= now_us:
                await apply_time(run_id, now_us, partition)
            elif deadline is not None:
                heapq.heappush(heap, (deadline, run_id))  # a repeated start moved it on
        if isinstance(event, RefreshRunStarted):
            heapq.heappush(heap, (to_micros(event.event_time) + stall_us, event.run_id))

    async def on_tick(tick: Command, partition: int) -> None:
        assert isinstance(tick, Tick)
        await apply_time(tick.run_id, tick.now_us, partition)

    table = p.detector(
        Detector(
            name="runs",
            table="refresh-runs",
            inputs={p.topics.runs: RefreshRunChange},
            key=runs.key,
            observe=runs.observe,
            to_json=RunState.to_dict,
            from_json=RunState.from_dict,
            before=before,
            on_control=on_tick,
        )
    )
    channel = p.control("runs")

    @receiver(p.app.on_partitions_revoked)
    async def _forget(sender: Any, revoked: Any, *args: Any, **kwargs: Any) -> None:
        for tp in revoked:
            if tp.topic == p.topics.runs:
                for known in (watermark, last_input, deadlines):
                    known.pop(tp.partition, None)

    @timer(p.app, p.settings.stall_check_interval_seconds)
    async def check_runs() -> None:
        now = time.time()
        assigned = [(tp.topic, tp.partition) for tp in p.app.consumer.assignment() if tp.topic == p.topics.runs]
        lag = await p.ledger.lag(assigned)
        clocks = {
            partition: runs.partition_clock(
                int(now * 1e6),
                watermark.get(partition),
                lag[(topic, partition)] == 0,
                int((now - last_input.setdefault(partition, now)) * 1e6),
                idle_after_us,
            )
            for topic, partition in assigned
        }
        in_flight = 0
        for run_id, entry in table.entries():
            in_flight += not entry.state.finished
            clock = clocks.get(entry.partition) if entry.partition is not None else None
            if clock is not None and runs.needs_tick(entry.state, clock, stall_us, retention_us):
                await channel.send(Tick(run_id, clock), entry.partition, key=run_id)  # type: ignore[arg-type]  # partition: not None when clock is
        p.metrics.runs_in_flight.set(in_flight)
