"""Refresh-run progress -> full refresh completed, unification refresh
completed, refresh run stalled.

Faust forbids table writes outside stream iteration, and wall-clock expiry of
windowed tables is unreliable, so time is brought in as data: a timer sends a
``Tick`` for each run that is due, to the run's own partition of the agent's
control topic, and the agent applies it like any event.
"""

from __future__ import annotations

import time

from schemas.events import RefreshRunChange

from ..detection import runs
from ..detection.runs import RunState
from ..runtime.control import Command, Tick
from ..runtime.pipeline import Detector, OnControl, Pipeline
from ..runtime.state import StateTable


def register(p: Pipeline) -> None:
    stall_us = int(p.settings.stall_after_seconds * 1e6)
    retention_us = int(p.settings.run_retention_seconds * 1e6)

    def ticks(table: StateTable[RunState]) -> OnControl:
        async def on_tick(tick: Command, partition: int) -> None:
            assert isinstance(tick, Tick)
            found = table.entry(tick.run_id)
            if found is None:
                return  # already evicted by an earlier tick
            result = runs.tick(found.state, tick.now_us, stall_us, retention_us)
            for trigger in result.triggers:
                await p.publisher.trigger(trigger)
            if result.state is None:
                table.delete(tick.run_id)
            elif result.triggers:
                table.put(tick.run_id, result.state, found.partition)

        return on_tick

    table = p.detector(Detector(
        name="runs", table="refresh-runs", inputs={p.topics.runs: RefreshRunChange}, key=runs.key,
        observe=runs.observe, to_json=RunState.to_dict, from_json=RunState.from_dict, on_control=ticks,
    ))  # fmt: skip
    channel = p.control("runs")

    @p.app.timer(interval=p.settings.stall_check_interval_seconds)
    async def check_runs() -> None:
        now_us = int(time.time() * 1e6)
        in_flight = 0
        for run_id, entry in table.entries():
            in_flight += not entry.state.finished
            if entry.partition is not None and runs.needs_tick(entry.state, now_us, stall_us, retention_us):
                await channel.send(Tick(run_id, now_us), entry.partition, key=run_id)
        p.metrics.runs_in_flight.set(in_flight)
