"""Several workers, exact progress: two, then three workers in one group on their own
broker, a seeded history from a foreign client (confluent-kafka) with
malformed messages among it, random SIGKILLs, a SIGTERM rolling restart and a
broker restart while it streams in. Afterwards:

- the distinct trigger ids are exactly what the detection core predicts;
- no id carries two different payloads;
- every malformed message is dead-lettered, repeated only under its own id;
- the group's committed offset reaches the end of every input partition.

``CHAOS_KILLS`` (default 6) sets the number of SIGKILLs per run; ``./dev chaos`` runs more.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from streams.kafka.clients import ensure_topics
from tests.support import scenario
from tests.support.kafka import Kafka, group_of_workers
from tests.support.kafka import test_settings as settings_for
from tests.support.measured import measured
from tests.support.metrics import wait_for_metric

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


@pytest.mark.parametrize("count", [2, 3], ids=lambda n: f"{n}-workers")
def test_workers_through_kills_a_rolling_restart_and_a_broker_restart(own_broker, tmp_path, count):
    import asyncio

    kills_wanted = int(os.environ.get("CHAOS_KILLS", "6"))
    base = settings_for(
        own_broker.bootstrap, tmp_path, partitions=4, stall_after_seconds=1e9, continuity_check_interval_seconds=2.0
    )
    asyncio.run(ensure_topics(base))
    kafka = Kafka(own_broker.bootstrap)
    workers = group_of_workers(base, count, tmp_path)
    t = workers[0].topics
    history = scenario.build(seed=21, segments=60, values=120, sources=30, run_count=40)
    expected = scenario.expected_ids(history)
    bad = scenario.malformed(120)
    inputs = history.inputs(t)
    # Malformed messages spread over the stream, on every input topic.
    spots = sorted(random.Random(5).sample(range(len(inputs)), len(bad)))
    topics = [t.segments, t.measures, t.datasources, t.runs]
    for n, (spot, value) in enumerate(zip(reversed(spots), bad, strict=True)):
        inputs.insert(spot, (topics[n % len(topics)], f"bad-{n}", value))

    kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
    try:
        for w in workers:
            w.start()
        for w in workers:
            wait_for_metric(w, f"cdp_triggers_subscriptions_active {len(history.subs)}.0", timeout=60)
        producer, done = scenario.play(kafka, inputs, batch=200, pause=0.25)
        rng = random.Random(13)
        kills = rolling = broker_restarts = crashes = 0
        plan = ["kill"] * kills_wanted + ["rolling", "broker"]
        rng.shuffle(plan)
        for action in plan:
            time.sleep(rng.uniform(2.0, 6.0))
            if action == "kill":
                victim = rng.choice(workers)
                victim.kill()
                time.sleep(rng.uniform(0, 2))
                victim.start()
                kills += 1
            elif action == "rolling":
                for w in workers:
                    w.stop()
                    w.start()
                rolling += 1
            else:
                own_broker.stop()
                time.sleep(3)
                own_broker.start()
                broker_restarts += 1
            for w in workers:  # a supervisor (systemd, Kubernetes) restarts what died on its own
                if not w.running:
                    crashes += 1
                    w.start()
        producer.join()
        last_input = time.monotonic()

        seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=180)
        settled, lag = scenario.wait_for_zero_lag(own_broker.bootstrap, base.app_id, topics, timeout=180)
        settled_after = time.monotonic() - last_input
        dead = [m for m in kafka.read(t.dead_letter, idle=3.0, timeout=60)]
    finally:
        for w in workers:
            w.stop()

    missing = sorted(expected[i] for i in set(expected) - set(seen))
    unexpected = sorted(f"{d['type']} {d['subject']}" for i in set(seen) - set(expected) for d in seen[i][:1])
    assert not missing and not unexpected, f"{len(missing)} lost: {missing[:10]}; {unexpected[:10]} invented"
    assert all(all(d == docs[0] for d in docs) for docs in seen.values()), "an id with two payloads"
    dead_ids = [json.loads(m.value())["id"] for m in dead]
    assert len(set(dead_ids)) == len(bad), f"{len(set(dead_ids))} distinct dead letters for {len(bad)} bad messages"
    assert all(m.key().decode() == i for m, i in zip(dead, dead_ids, strict=True))
    assert settled != float("inf"), f"group lag stuck: { {tp: n for tp, n in lag.items() if n} }"
    records = sum(len(docs) for docs in seen.values())
    measured(
        f"chaos-{count}-workers-{kills}-kills",
        f"{count} workers, 4 partitions, {len(inputs):,} events ({len(bad)} malformed), {kills} SIGKILLs, "
        f"{rolling} SIGTERM rolling restart, {broker_restarts} broker restart, {crashes} crashes: "
        f"{len(seen)} of {len(expected)} triggers, {records - len(seen)} repeats, {len(dead)} dead-letter records "
        f"for {len(bad)} bad messages, lag 0 on every partition {settled_after:.1f} s after the last input",
        events=len(inputs),
        malformed=len(bad),
        kills=kills,
        triggers=len(expected),
        repeats=records - len(seen),
        dead_letter_records=len(dead),
        crashes=crashes,
        lag_zero_after_s=round(settled_after, 1),
    )
