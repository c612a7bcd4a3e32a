"""Event time is the truth: a worker catching up on a history two months old
fires exactly what the live run would have, completions and stalls alike."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from schemas.triggers import TriggerType
from streams.detection.ids import trigger_id
from tests.support import builders as b
from tests.support import scenario
from tests.support.measured import measured

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_replaying_an_old_history_yields_the_live_triggers(kafka, settings, worker_factory):
    # 2,000 runs two minutes apart over three days of event time, written as
    # they progress (about ten in flight at once): most done in twenty
    # minutes, every tenth in two hours, two hung from the start. Live, with
    # the default one-hour limit, exactly the slow and the hung ones stall.
    # Two months old when replayed.
    history = scenario.build(
        seed=3,
        segments=5,
        values=50,
        sources=5,
        run_count=2000,
        hung=2,
        run_every=120,
        run_length=1200,
        slow_every=10,
        slow_length=7200,
    )
    history = history.shifted(datetime.now(UTC) - timedelta(days=60) - b.T0)
    expected = scenario.expected_ids(history)
    stalls = {trigger_id(TriggerType.REFRESH_RUN_STALLED.value, run): run for run in history.hung + history.slow}
    expected.update({i: f"stalled {run}" for i, run in stalls.items()})

    # Everything is written while no worker runs; then one starts, far behind,
    # with ticks every 0.2 s while it catches up.
    settings = settings.model_copy(update={"stall_check_interval_seconds": 0.2, "idle_partition_seconds": 3.0})
    worker = worker_factory(settings)
    t = worker.topics
    kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
    for topic, key, doc in history.inputs(t):
        kafka.produce(topic, key, doc)
    kafka.flush()
    worker.start()

    seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=120)
    time.sleep(settings.idle_partition_seconds + 2)  # caught up and idle: time now follows the wall clock
    seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=30)

    missing = sorted(expected[i] for i in set(expected) - set(seen))
    invented = sorted(f"{d[0]['type']} {d[0]['subject']}" for i, d in seen.items() if i not in expected)
    assert not missing and not invented, f"lost {len(missing)}: {missing[:8]}; invented {len(invented)}: {invented[:8]}"
    stalled = [d[0]["data"] for d in seen.values() if d[0]["type"] == TriggerType.REFRESH_RUN_STALLED.value]
    assert len(stalled) == len(history.hung) + len(history.slow)
    # Stalled as of the history's own time: start + the limit, whenever noticed.
    assert all(
        datetime.fromisoformat(d["detected_at"]) - datetime.fromisoformat(d["started_at"])
        == timedelta(seconds=settings.stall_after_seconds)
        for d in stalled
    )
    measured(
        "catch-up",
        f"a history two months old, {len(history.slow) * 10:,} runs ({len(history.slow)} slower than the limit, "
        f"{len(history.hung)} hung): {len(seen):,} of {len(expected):,} triggers, {len(stalled)} stalls, none invented",
        runs=len(history.slow) * 10,
        triggers=len(expected),
        stalls=len(stalled),
    )
