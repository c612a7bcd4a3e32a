"""A seeded CDP history for the reliability tests, what the detection core
predicts for it, and how to play it from a foreign client (confluent-kafka)."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from pydantic import TypeAdapter

from schemas.events import DataSourceChange, RefreshRunChange, SegmentChange
from schemas.subscriptions import ThresholdSubscription
from streams.detection import datasources, runs, thresholds
from streams.detection.thresholds import Rule
from streams.settings import Settings
from streams.topics import Topics
from tests.support import builders as b

Keyed = tuple[str, dict[str, Any]]
RUN_TASKS = [("data_source", "crm"), ("unification", "map"), ("unification", "match"), ("unification", "merge")]


@dataclass
class Scenario:
    subs: list[dict[str, Any]] = field(default_factory=list)
    segments: list[Keyed] = field(default_factory=list)
    sources: list[Keyed] = field(default_factory=list)
    runs: list[Keyed] = field(default_factory=list)
    hung: list[str] = field(default_factory=list)  # runs that never finish
    slow: list[str] = field(default_factory=list)  # runs that take longer than the others

    def shifted(self, delta: timedelta) -> Scenario:
        """The same history with every event time moved by ``delta``."""

        def move(doc: dict[str, Any]) -> dict[str, Any]:
            return {**doc, "event_time": (datetime.fromisoformat(doc["event_time"]) + delta).isoformat()}

        return Scenario(
            self.subs,
            [(k, move(d)) for k, d in self.segments],
            [(k, move(d)) for k, d in self.sources],
            [(k, move(d)) for k, d in self.runs],
            self.hung,
            self.slow,
        )

    def inputs(self, topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
        """(topic, key, document), the three inputs interleaved as a CDP would write them."""
        merged = []
        for topic, events in (
            (topics.segments, self.segments),
            (topics.datasources, self.sources),
            (topics.runs, self.runs),
        ):
            merged += [(i / len(events), topic, key, doc) for i, (key, doc) in enumerate(events)]
        return [(topic, key, doc) for _, topic, key, doc in sorted(merged, key=lambda item: item[0])]


def play(kafka: Any, inputs: list[tuple[str, str, Any]], batch: int = 100, pause: float = 0.1) -> tuple[Any, Any]:
    """Produce ``inputs`` from a thread, ``batch`` at a time with a ``pause`` between:
    the thread, and an event set once all are acknowledged."""
    done = threading.Event()

    def produce() -> None:
        for n, (topic, key, doc) in enumerate(inputs):
            kafka.produce(topic, key, doc)
            if n % batch == 0:
                kafka.flush()
                time.sleep(pause)
        kafka.flush()
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    return thread, done


def build(
    seed: int = 7,
    segments: int = 40,
    values: int = 150,
    sources: int = 20,
    run_count: int = 20,
    hung: int = 0,
    run_every: float = 1.0,
    run_length: float = 240.0,
    slow_every: int = 0,
    slow_length: float = 0.0,
) -> Scenario:
    """Segments drifting around two thresholds, data sources refreshing, and
    refresh runs starting ``run_every`` seconds apart (event time), each done
    ``run_length`` seconds later (every ``slow_every``-th: ``slow_length``),
    their progress written in event-time order (so runs overlap); ``hung``
    more runs start first and never finish."""
    rng = random.Random(seed)
    s = Scenario()
    for i in range(segments):
        s.subs.append(b.subscription(f"s{i}-a", "segment", f"seg{i}", 100))
        s.subs.append(b.subscription(f"s{i}-b", "segment", f"seg{i}", 120, recovery=90))
    for i in range(segments):
        value = 100
        for k in range(values):
            value = max(0, value + rng.randint(-15, 15))
            s.segments.append((f"seg{i}", b.segment(f"seg{i}", value, k, event_id=f"seg{i}-{k}")))
    for i in range(sources):
        for r in range(3):
            t = r * 100
            s.sources.append((f"ds{i}", b.datasource(f"ds{i}", "started", t, run=f"r{r}")))
            s.sources.append((f"ds{i}", b.datasource(f"ds{i}", "failed", t + 10, run=f"r{r}", will_retry=True)))
            final = "failed" if rng.random() < 0.4 else "succeeded"
            s.sources.append((f"ds{i}", b.datasource(f"ds{i}", final, t + 20, run=f"r{r}")))
    timed: list[tuple[float, Keyed]] = []
    for h in range(hung):
        s.hung.append(f"hung{h}")
        timed.append((0.0, (f"hung{h}", b.run_started(f"hung{h}", RUN_TASKS, 0))))
    for i in range(run_count):
        slow = slow_every and i % slow_every == 0
        if slow:
            s.slow.append(f"run{i}")
        step = (slow_length if slow else run_length) / len(RUN_TASKS)
        start = (i + 1) * run_every
        timed.append((start, (f"run{i}", b.run_started(f"run{i}", RUN_TASKS, start))))
        for j, (kind, name) in enumerate(RUN_TASKS):
            at = start + step * (j + 1)
            timed.append((at, (f"run{i}", b.task(f"run{i}", kind, name, "succeeded", at))))
    s.runs = [keyed for _, keyed in sorted(timed, key=lambda item: item[0])]
    return s


class _Subscriptions:
    def __init__(self, subs: Iterable[dict[str, Any]]) -> None:
        self._by_id = {d["subscription_id"]: ThresholdSubscription.model_validate(d) for d in subs}

    def rules_for(self, entity_key: str) -> tuple[Rule, ...]:
        return tuple(Rule.of(s) for s in self._by_id.values() if s.entity_key == entity_key)


def expected_ids(s: Scenario) -> dict[str, str]:
    """Trigger id -> a description of its cause, as the pure core decides
    (completions only for runs; stalls are the caller's to add)."""
    subscriptions = _Subscriptions(s.subs)
    ids: dict[str, str] = {}
    states: dict[str, Any] = {}
    obs: Any
    for key, doc in s.segments:
        event = SegmentChange.model_validate(doc)
        obs = thresholds.observe(states.get(key), event, subscriptions)
        states[key] = obs.state
        ids.update({t.id: f"{t.type.short} {t.subject} at {event.event_id}" for t in obs.triggers})
    for key, doc in s.sources:
        obs = datasources.observe(states.get(f"ds/{key}"), DataSourceChange.model_validate(doc))
        states[f"ds/{key}"] = obs.state
        ids.update({t.id: f"{t.type.short} {doc['event_id']}" for t in obs.triggers})
    adapter = TypeAdapter(RefreshRunChange)
    for key, doc in s.runs:
        obs = runs.observe(states.get(f"run/{key}"), adapter.validate_python(doc))
        states[f"run/{key}"] = obs.state
        ids.update({t.id: f"{t.type.short} {key}" for t in obs.triggers})
    return ids


def triggers_by_id(kafka: Any, topic: str, expected: Iterable[str], timeout: float = 120.0) -> dict[str, list[dict]]:
    """Every trigger event on ``topic``, by id, once all ``expected`` ids are there (or on timeout)."""
    wanted = set(expected)
    seen: dict[str, list[dict]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = {}
        for m in kafka.read(topic, idle=2.0, timeout=60):
            doc = json.loads(m.value())
            seen.setdefault(doc["id"], []).append(doc)
        if wanted <= set(seen):
            break
    return seen


def group_lag(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """End offset minus the group's committed offset, per partition (a partition
    never committed counts from its log start)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = []
        for topic in topics:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            tps += [TopicPartition(topic, p) for p in parts]
        lag = {}
        for tp in consumer.committed(tps, timeout=10):
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            position = tp.offset if tp.offset >= 0 else low
            lag[(tp.topic, tp.partition)] = high - position
        return lag
    finally:
        consumer.close()


def wait_for_zero_lag(bootstrap: str, group: str, topics: Iterable[str], timeout: float) -> tuple[float, dict]:
    """Seconds until every partition's lag is 0, and the last lag seen."""
    began = time.monotonic()
    lag: dict = {}
    while time.monotonic() - began < timeout:
        lag = group_lag(bootstrap, group, topics)
        if not any(lag.values()):
            return time.monotonic() - began, lag
        time.sleep(0.5)
    return float("inf"), lag


def settle(bootstrap: str, group: str, topics: Iterable[str], timeout: float = 60.0) -> None:
    """Wait until ``group`` has committed everything on ``topics``: what it was going to do with them is done (a
    repeat that was coming has come), which a fixed sleep only hopes for."""
    took, lag = wait_for_zero_lag(bootstrap, group, topics, timeout)
    assert took != float("inf"), f"{group} still has lag after {timeout:g} s: {lag}"


def settle_workers(settings: Settings, timeout: float = 60.0) -> None:
    """``settle`` the workers on their inputs: every trigger that was coming has been published."""
    t = Topics(settings)
    settle(settings.kafka_bootstrap, settings.app_id, [t.datasources, t.segments, t.measures, t.runs], timeout)


def settle_pipeline(settings: Settings, timeout: float = 60.0) -> None:
    """``settle_workers``, then the dispatchers on their inputs: every delivery of those triggers made too."""
    t = Topics(settings)
    settle_workers(settings, timeout)
    settle(settings.kafka_bootstrap, settings.dispatcher_app_id, [t.actions, t.redeliveries], timeout)


def malformed(n: int) -> list[bytes]:
    """Messages no schema accepts: not JSON, wrong fields, too large."""
    kinds = [b"\x00not json", b'{"segment_id": "x"}', b"x" * 70_000, b'{"event_id": 1}']
    return [kinds[i % len(kinds)] for i in range(n)]


def malformed_kinds(now: str = "2026-01-01T00:00:00+00:00") -> list[bytes]:
    """Eighteen kinds of message that every input topic rejects: framing, encoding and schema errors."""
    base = {"event_id": "e", "event_time": now}
    docs: list[Any] = [
        {"segment_id": "x"},  # fields missing
        {"event_id": 1},  # wrong type
        {**base, "segment_id": "s", "segment_name": "S", "member_count": -1},  # negative count
        {**base, "segment_id": "s", "segment_name": "S", "member_count": 12.5},  # fractional count
        {**base, "segment_id": "s", "segment_name": "S", "member_count": "12"},  # count as a string
        {**base, "event_time": "yesterday", "segment_id": "s"},  # not a timestamp
        {**base, "event_time": "2026-01-01T00:00:00"},  # no offset
        {**base, "event_id": "", "segment_id": "s"},  # empty id
        {**base, "data_source_id": "d", "status": "exploded"},  # unknown status
        {**base, "sneaky": True},  # unknown field
        [base],  # an array
        "just a string",
        None,
    ]
    raw = [json.dumps(d).encode() for d in docs]
    raw += [b"", b"\x00not json", b"\xff\xfe\xfd", b'{"event_id": "e",', b"x" * 70_000]
    return raw
