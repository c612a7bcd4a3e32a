"""A backlog reaches the agents in batches (one partition's messages per Faust message): a worker killed while
it applies them, and a second worker joining while batches are in hand, lose no trigger and invent none, and the
group's lag returns to 0."""

from __future__ import annotations

import re
import time

import pytest

from tests.support import scenario
from tests.support.kafka import group_of_workers
from tests.support.metrics import metrics_text

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def _total(text: str, name: str) -> float:
    """The sum of a metric's samples over its labels."""
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def _applied(worker) -> float:
    return _total(metrics_text(worker), "cdp_triggers_input_events_total")


def _wait_applied(worker, at_least: float, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.running and (n := _applied(worker)) >= at_least:
            return n
        time.sleep(0.05)
    raise AssertionError(f"{at_least} events not applied in {timeout} s")


def test_a_backlog_in_batches_through_kills_and_a_rebalance_loses_nothing(kafka, settings, tmp_path):
    history = scenario.build(seed=21, segments=40, values=3000, sources=30, run_count=100)
    expected = scenario.expected_ids(history)
    base = settings.model_copy(update={"stall_after_seconds": 1e9})
    first, second = group_of_workers(base, 2, tmp_path)
    t = first.topics
    kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
    inputs = history.inputs(t)
    backlog, rest = inputs[: len(inputs) * 2 // 3], inputs[len(inputs) * 2 // 3 :]
    for topic, key, doc in backlog:  # written before any worker runs
        kafka.produce(topic, key, doc)
    kafka.flush()

    # Killed twice while it applies the backlog: each time somewhere inside a batch or between two
    for progress in (5_000, 3_000):
        first.start()
        _wait_applied(first, progress)
        first.kill()
    first.start()
    _wait_applied(first, 2_000)
    # The rest streams in fast while a second worker joins: a rebalance while the first holds batches
    producer, _ = scenario.play(kafka, rest, batch=500, pause=0.05)
    second.start()
    producer.join()

    seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=120)
    missing = sorted(expected[i] for i in set(expected) - set(seen))
    invented = sorted(f"{d[0]['type']} {d[0]['subject']}" for i, d in seen.items() if i not in expected)
    assert not missing and not invented, f"lost {len(missing)}: {missing[:8]}; invented {len(invented)}: {invented[:8]}"
    assert all(all(d == docs[0] for d in docs) for docs in seen.values())  # a repeat is the same event
    settled, lag = scenario.wait_for_zero_lag(
        kafka.bootstrap, base.app_id, [t.segments, t.measures, t.datasources, t.runs], timeout=60
    )
    assert settled != float("inf"), f"group lag stuck: { {tp: n for tp, n in lag.items() if n} }"

    # The backlog went in batches, and the second worker took over part of it
    text = metrics_text(first)
    applied, batches = _applied(first), _total(text, "cdp_triggers_batch_processing_seconds_count")
    assert batches and applied / batches > 10, f"{applied} events in {batches} batches"
    assert _applied(second) > 0, "the second worker applied nothing: it joined after the input ended"
