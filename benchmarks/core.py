"""The detection core's cost per event, without Kafka or Faust: the
threshold path of the worker (decode, state read, rules, evaluate, trigger
building and encoding, state write and its flush encoding) over the
benchmark's generated segment and measure events, each step timed apart.
What the worker spends beyond this is the shell, Faust, aiokafka and the
broker.

    uv run python -m benchmarks.core [EVENTS] [EXPLAIN_HISTORY]
"""

from __future__ import annotations

import gc
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.events import MeasureChange, SegmentChange
from streams.detection import thresholds
from streams.detection.ordering import to_micros
from streams.detection.thresholds import EntityState
from streams.kafka.codec import Decoder, Rejected, encode_trigger
from streams.runtime.state import StateTable
from streams.worker.registry import SubscriptionRegistry

from .pipeline import Plan, generate, subscriptions


class _Table(dict):  # the parts of a Faust memory table a StateTable touches
    def __init__(self) -> None:
        super().__init__()
        self.data = self


def main(events: int = 40_000, keep: int = 10) -> None:
    """``keep``: the explain history (CDP_EXPLAIN_HISTORY)."""
    plan = Plan(events, 10_000, 20_000, 0, 0, 0)
    registry = SubscriptionRegistry()
    for key, doc in subscriptions(plan.entities, plan.subscriptions):
        registry.apply(key.encode(), orjson.dumps(doc))
    registry.commit({})
    inputs = [
        (topic, orjson.dumps(doc))
        for topic, _, doc in generate(plan, datetime.now(UTC))
        if topic in ("segment-changes", "measure-changes")
    ]
    decoders: dict[str, Decoder[Any]] = {
        "segment-changes": Decoder(SegmentChange, 65536),
        "measure-changes": Decoder(MeasureChange, 65536),
    }
    table = StateTable(_Table(), EntityState.to_dict, EntityState.from_dict, buffered=True)
    spent: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)  # as the worker runs (streams/runtime/launch.py)
    for i, (topic, raw) in enumerate(inputs):
        t0 = clock()
        event = decoders[topic].decode(raw)
        t1 = clock()
        assert not isinstance(event, Rejected), event
        key = thresholds.key(event)
        state = table.get(key, 0)
        t2 = clock()
        rules = registry.rules_for(key)
        t3 = clock()
        value = float(event.member_count) if isinstance(event, SegmentChange) else event.value
        found = thresholds.evaluate(
            state, event.event_id, to_micros(event.event_time), event.sequence, value, rules, i, keep
        )
        t4 = clock()
        spent["decode"] += t1 - t0
        spent["state read"] += t2 - t1
        spent["rules"] += t3 - t2
        spent["evaluate"] += t4 - t3
        for crossing in found.crossings:
            t5 = clock()
            kind: Any
            kind, entity_id = key.split("/", 1)
            trigger = thresholds.crossing_trigger(
                crossing, kind, entity_id, "S", event.event_id, event.event_time, None
            )
            t6 = clock()
            encode_trigger(trigger, "/b")
            t7 = clock()
            spent["trigger"] += t6 - t5
            spent["envelope + encode"] += t7 - t6
        t8 = clock()
        table.put(key, found.state, 0)
        if i % 400 == 0:  # about one flush's worth of events at the worker's rate
            table.end_flush(table.begin_flush(), {})
        spent["state write + flush"] += clock() - t8
    for step, seconds in spent.items():
        print(f"{step:<22} {seconds / len(inputs) * 1e6:6.2f} us/event")
    print(f"{'total':<22} {sum(spent.values()) / len(inputs) * 1e6:6.2f} us/event ({len(inputs):,} events)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000, int(sys.argv[2]) if len(sys.argv) > 2 else 10)
