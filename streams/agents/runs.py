"""Refresh-run progress -> full refresh completed, unification refresh
completed, refresh run stalled.

Faust forbids table writes outside stream iteration, and wall-clock expiry of
windowed tables is unreliable, so time is brought in as data: a timer sends a
tick for each run that is due, to the run's own partition of an internal
topic read by the same agent. The agent then applies the tick like any event.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from schemas.events import RefreshRunChange

from ..app import Pipeline
from ..codec import Decoder
from ..continuity import Incoming
from ..core import runs
from ..core.runs import RunState


def register(p: Pipeline) -> None:
    decoder: Decoder[Any] = Decoder(RefreshRunChange, p.settings.max_event_bytes)
    # Value: {"p": partition the run lives on, "s": RunState as dict}.
    table = p.table("refresh-runs")
    control = p.app.topic(p.topics.control("runs"), key_serializer="raw", value_serializer="raw")
    stall_us = int(p.settings.stall_after_seconds * 1e6)
    retention_us = int(p.settings.run_retention_seconds * 1e6)
    m = p.metrics

    async def handle(msg: Incoming) -> None:
        change = await p.decode(decoder, msg)
        if change is None:
            return
        raw = table.get(change.run_id)
        obs = runs.observe(RunState.from_dict(raw["s"]) if raw else None, change)
        if not p.applies(msg, obs.verdict):
            return
        for trigger in obs.triggers:
            await p.publisher.trigger(trigger)
        table[change.run_id] = {"p": msg.partition, "s": obs.state.to_dict()}

    async def _on_tick(tick: dict[str, Any]) -> None:
        raw = table.get(tick["run_id"])
        if raw is None:
            return  # already evicted by an earlier tick
        result = runs.tick(RunState.from_dict(raw["s"]), tick["now_us"], stall_us, retention_us)
        for trigger in result.triggers:
            await p.publisher.trigger(trigger)
        if result.state is None:
            del table[tick["run_id"]]
        elif result.triggers:
            table[tick["run_id"]] = {"p": raw["p"], "s": result.state.to_dict()}

    p.input_agent("runs", [p.topics.runs], handle, on_control=_on_tick)

    @p.app.timer(interval=p.settings.stall_check_interval_seconds)
    async def check_runs() -> None:
        now_us = int(time.time() * 1e6)
        in_flight = 0
        for run_id, raw in list(table.items()):
            state = RunState.from_dict(raw["s"])
            in_flight += not state.finished
            if runs.needs_tick(state, now_us, stall_us, retention_us):
                payload = orjson.dumps({"kind": "tick", "run_id": run_id, "now_us": now_us})
                await control.send(key=run_id.encode(), value=payload, partition=raw["p"])
        m.runs_in_flight.set(in_flight)
