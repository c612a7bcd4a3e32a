"""A refresh run stalls on the same event whatever happens to the workers. Runs arrive out of event-time order
across runs (backfills, late producers), each partition's clock is the latest event time applied on it, and the
workers are SIGKILLed and rebalanced while the input streams in: the stalled and completed triggers are exactly
those of an uninterrupted worker, computed here by a model that applies the pure core in offset order."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest
from pydantic import TypeAdapter

from schemas.events import RefreshRunChange
from streams.detection import runs
from streams.detection.ordering import Verdict, to_micros
from streams.kafka.clients import ensure_topics
from tests.support import builders as b
from tests.support.kafka import Kafka, group_of_workers, murmur2_partition
from tests.support.kafka import test_settings as settings_for
from tests.support.scenario import settle_workers, triggers_by_id

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

PARTITIONS = 2
STALL = 3600.0  # s
BURST = 300


def history(seed: int, count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` runs from two producers whose bursts of ``BURST`` events alternate: one live, one backfilling runs of
    ten days earlier, each in its own time order. A run starts every 5 min of its era and its task finishes 30
    min later (one in ten: 2 h, past the stall limit), 12 events after its start, so many runs are in flight."""
    rng = random.Random(seed)

    def era(name: str, base: float) -> list[tuple[str, dict[str, Any]]]:
        slots: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in range(count // 2 + 12)]
        for i in range(count // 2):
            run, t = f"{name}-{seed}-{i}", base + i * 300.0
            length = 7200.0 if rng.random() < 0.1 else 1800.0
            slots[i].append((run, b.run_started(run, [("segment", "vip")], t)))
            slots[i + 12].append((run, b.task(run, "segment", "vip", "succeeded", t + length)))
        return [event for slot in slots for event in slot]

    live, backfill = era("live", 10 * 86400.0), era("backfill", 0.0)
    out = []
    for at in range(0, max(len(live), len(backfill)), BURST):
        out += live[at : at + BURST] + backfill[at : at + BURST]
    # last, on every partition, an event far ahead: what is still due stalls on it (the model needs no timer)
    ends = {murmur2_partition(f"end-{i}".encode(), PARTITIONS): f"end-{i}" for i in range(64)}
    assert len(ends) == PARTITIONS
    return out + [(run, b.run_started(run, [("segment", "vip")], 20 * 86400.0)) for run in ends.values()]


def uninterrupted(events: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Trigger id -> cause, as one worker that never stops decides: per partition in offset order, before each
    event every run whose deadline the partition's clock reached stalls."""
    adapter = TypeAdapter(RefreshRunChange)
    stall_us, keep_us = int(STALL * 1e6), 10**18
    by_partition: dict[int, list[tuple[str, Any]]] = {}
    for run, doc in events:
        by_partition.setdefault(murmur2_partition(run.encode(), PARTITIONS), []).append(
            (run, adapter.validate_python(doc))
        )
    ids: dict[str, str] = {}
    for partition_events in by_partition.values():
        clock = 0
        states: dict[str, Any] = {}
        for run, event in partition_events:
            clock = max(clock, to_micros(event.event_time))
            for other, state in list(states.items()):
                result = runs.tick(state, clock, stall_us, keep_us)
                ids.update({t.id: f"{t.type.short} {other}" for t in result.triggers})
                states[other] = result.state or state
            obs = runs.observe(states.get(run), event)
            if obs.verdict is Verdict.APPLY:
                states[run] = obs.state
                ids.update({t.id: f"{t.type.short} {run}" for t in obs.triggers})
    return ids


def test_stalls_and_completions_do_not_depend_on_kills_and_rebalances(broker, kafka, tmp_path):
    settings = settings_for(
        broker.bootstrap,
        tmp_path,
        partitions=PARTITIONS,
        stall_after_seconds=STALL,
        idle_partition_seconds=1e9,  # no wall clock: event time only, as the model
        run_retention_seconds=1e9,
        stall_check_interval_seconds=1e6,  # no timer: stalls happen on events only, as in the model
    )
    asyncio.run(ensure_topics(settings))
    events = history(seed=7, count=1200)
    expected = uninterrupted(events)
    stalls = [i for i, cause in expected.items() if cause.startswith("refresh.run.stalled")]
    assert 200 < len(stalls) < 1000, len(stalls)  # the data exercises both outcomes

    workers = group_of_workers(settings, 3, tmp_path)
    for w in workers[:2]:
        w.start(timeout=90)
    done = threading.Event()

    def produce() -> None:
        for i, (run, doc) in enumerate(events):  # a steady stream: commits and moves fall anywhere in it
            kafka.produce(settings.topic("refresh-runs"), run, doc)
            if i % 5 == 4:
                kafka.flush()
                time.sleep(0.05)
        kafka.flush()
        done.set()

    producer = threading.Thread(target=produce)
    producer.start()
    kills = 0
    rng = random.Random(11)
    try:
        while not done.is_set() or kills < 4:
            time.sleep(rng.uniform(1.0, 3.0))
            victim = workers[kills % 2]
            victim.kill()  # SIGKILL: no flush, no commit
            kills += 1
            if kills == 2:
                workers[2].start(timeout=90)  # a third member: the partitions move
            victim.start(timeout=90)
        producer.join()
        settle_workers(settings, timeout=120)
        found = triggers_by_id(Kafka(broker.bootstrap), settings.topic("actions"), expected, timeout=120)
    finally:
        for w in workers:
            w.stop()
    missing = {i: cause for i, cause in expected.items() if i not in found}
    invented = sorted(i for i in found if i not in expected)
    assert kills >= 4
    assert missing == {} and invented == [], f"missing {len(missing)}: {list(missing.values())[:5]}; extra {invented}"
