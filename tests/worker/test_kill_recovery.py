"""Nothing lost: SIGKILL the worker again and again while events stream in,
restart it each time, and compare the distinct trigger ids on the actions
topic with the set the detection core predicts for the input."""

from __future__ import annotations

import random
import time

import pytest

from tests.support import scenario
from tests.support.measured import measured
from tests.support.metrics import wait_for_metric

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_sigkill_mid_stream_loses_no_trigger(kafka, settings, worker_factory):
    history = scenario.build()
    expected = scenario.expected_ids(history)
    assert len(expected) > 200  # the scenario must actually cross a lot

    # Runs here carry old event times; only the completions are under test.
    settings = settings.model_copy(update={"stall_after_seconds": 1e9})
    worker = worker_factory(settings).start()
    t = worker.topics
    kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
    wait_for_metric(worker, f"cdp_triggers_subscriptions_active {len(history.subs)}.0")
    producer, done = scenario.play(kafka, history.inputs(t))
    kills = 0
    rng = random.Random(11)
    while not done.is_set() or kills < 3:
        time.sleep(rng.uniform(0.8, 2.0))
        worker.kill()
        kills += 1
        worker.start()
    producer.join()

    seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=90)
    missing = sorted(expected[i] for i in set(expected) - set(seen))
    unexpected = [
        (
            d["type"],
            d["subject"],
            d["data"].get("subscription_id"),
            d["data"].get("previous_value"),
            d["data"].get("value"),
        )
        for i in set(seen) - set(expected)
        for d in seen[i][:1]
    ]
    assert not missing and not unexpected, (
        f"after {kills} kills: {len(missing)} of {len(expected)} triggers lost: {missing[:10]}; "
        f"{len(unexpected)} unexplained: {unexpected[:10]}"
    )
    # Every repeat is byte-for-byte the same trigger event.
    assert all(all(d == docs[0] for d in docs) for docs in seen.values())
    records = sum(len(docs) for docs in seen.values())
    # The group's committed offsets follow what was applied, to the end.
    settled, lag = scenario.wait_for_zero_lag(
        kafka.bootstrap, settings.app_id, [t.segments, t.datasources, t.runs], timeout=60
    )
    assert settled != float("inf"), f"group lag stuck: { {tp: n for tp, n in lag.items() if n} }"
    events = len(history.inputs(t))
    measured(
        "kill-recovery",
        f"1 worker on the {settings.state_store} store, {events:,} events, {kills} SIGKILLs: {len(seen)} of "
        f"{len(expected)} predicted triggers, {records - len(seen)} repeats, lag 0 {settled:.1f} s after the last "
        "input",
        events=events,
        kills=kills,
        triggers=len(expected),
        repeats=records - len(seen),
        lag_zero_after_s=round(settled, 1),
    )
