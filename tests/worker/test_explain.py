"""``explain``: the worker that owns a key answers from its own state, through Kafka, for each kind; the CLI
shows it in words, the API answers the same; a control message that is not a command is skipped, not fatal."""

from __future__ import annotations

import asyncio
import time

import pytest

from streams.client.explain import explain
from streams.kafka.clients import ensure_topics
from tests.support import builders as b
from tests.support.api import api_settings, start_api
from tests.support.cli import cli
from tests.support.kafka import free_port
from tests.support.metrics import wait_for_metric
from tests.support.scenario import triggers_by_id
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def ask(settings, kind, ident):
    return asyncio.run(explain(settings, kind, ident, timeout=20))


def test_each_kind_is_explained_by_the_worker_that_owns_it(kafka, settings, worker, tmp_path):
    t = worker.topics
    kafka.produce(t.subscriptions, "vip-1000", b.subscription("vip-1000", "segment", "vip", 1000, recovery=950))
    kafka.flush()
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")

    fresh = ask(settings, "segment", "vip")  # a subscription, no value yet
    [sub] = fresh.explanation["subscriptions"]
    assert fresh.explanation["value"] is None and sub["status"] == "baseline", fresh

    kafka.produce(t.segments, "vip", b.segment("vip", 900, 0, event_id="v1"))
    kafka.flush()
    armed = wait_for(lambda: (r := ask(settings, "segment", "vip")).explanation["value"] == 900.0 and r, 30, "900")
    assert armed.explanation["subscriptions"][0]["status"] == "armed"
    assert armed.explanation["last_event_ids"] == ["v1"] and armed.agent == "thresholds"
    assert armed.applied[t.segments] is not None

    kafka.produce(t.segments, "vip", b.segment("vip", 1012, 60, event_id="v2"))
    kafka.produce(t.runs, "r-9", b.run_started("r-9", [("segment", "vip"), ("segment", "churn")], 0))
    kafka.produce(t.runs, "r-9", b.task("r-9", "segment", "vip", "succeeded", 120))
    kafka.produce(t.datasources, "crm", b.datasource("crm", "failed", 30, run="ds-run-1", will_retry=True))
    kafka.produce(t.datasources, "crm", b.datasource("crm", "succeeded", 40, run="ds-run-1", event_id="ds-ok"))
    kafka.flush()
    fired = wait_for(lambda: (r := ask(settings, "segment", "vip")).explanation["value"] == 1012.0 and r, 30, "1012")
    [sub] = fired.explanation["subscriptions"]
    assert sub["status"] == "waiting" and "re-arms below 950" in sub["why"], sub

    run = wait_for(lambda: (r := ask(settings, "run", "r-9")).explanation.get("known") and r, 30, "the run")
    said = run.explanation
    assert said["pending"] == ["segment:churn"] and said["tasks"]["segment:vip"]["status"] == "succeeded", said
    assert said["stalls_at"] == b.at(settings.stall_after_seconds) and said["fired"] == []
    assert said["partition_clock"] == b.at(120)  # the latest event time on the run's partition

    source = wait_for(lambda: (r := ask(settings, "data-source", "crm").explanation)["known"] and r, 30, "crm")
    [refresh] = source["runs"]
    assert (refresh["refresh_run_id"], refresh["retried_failures"], refresh["outcome"]) == ("ds-run-1", 1, "succeeded")
    assert refresh["ended_at"] == b.at(40) and refresh["event_id"] == "ds-ok", refresh
    assert triggers_by_id(kafka, t.actions, [refresh["trigger_id"]], timeout=30)[refresh["trigger_id"]]
    assert ask(settings, "measure", "never-seen").explanation["subscriptions"] == []

    # a stranger's message on the control topic is skipped, and the worker goes on answering
    kafka.produce(t.control("thresholds"), None, b"not a command")
    kafka.flush()
    assert ask(settings, "segment", "vip").explanation["value"] == 1012.0
    assert worker.running

    process, api = start_api(api_settings(settings), tmp_path / "api.log", "read")
    try:
        answered = api.call("GET", "/v1/explain/run/r-9")
        assert answered.status_code == 200, answered.text
        assert answered.json()["explanation"]["pending"] == ["segment:churn"]
        own = api.call("GET", "/v1/explain/subscription/vip-1000").json()["explanation"]
        assert own["value"] == 1012.0 and [s["status"] for s in own["subscriptions"]] == ["waiting"]
        assert api.call("GET", "/v1/explain/subscription/nope").status_code == 404
    finally:
        process.stop()

    shown = cli(settings, "explain", "run", "r-9")
    assert shown.returncode == 0, shown.stderr
    assert "waiting for: 1 task(s): segment:churn" in shown.stdout and "stalls at" in shown.stdout, shown.stdout
    mine = cli(settings, "explain", "subscription", "vip-1000")
    assert mine.returncode == 0 and "subscription vip-1000: waiting" in mine.stdout, mine.stdout + mine.stderr
    assert cli(settings, "explain", "subscription", "nope").returncode == 1
    wrong = cli(settings, "explain", "table", "x")
    assert wrong.returncode == 2 and "KIND 'table'" in wrong.stderr, wrong.stderr


# (event id, seconds, member count, the outcome explain must give it): every outcome a value can have
HISTORY = [
    ("h1", 10, 1100, "baseline"),
    ("h2", 20, 900, "rearmed"),
    ("h3", 30, 920, "below"),
    ("h4", 40, 1012, "fired"),
    ("h5", 50, 990, "waiting"),
    ("h4", 60, 1012, "repeat"),  # an id applied already
    ("h6", 35, 5, "stale"),  # older than h5
]


def evaluations(reply) -> list[tuple[str, str]]:
    [sub] = reply.explanation["subscriptions"]
    return [(e["event_id"], e["outcome"]) for e in reversed(sub["evaluations"])]


def test_each_outcome_is_explained_with_its_event_through_a_sigkill_replay_and_a_rebalance(
    kafka, broker, tmp_path, worker_factory
):
    """The history is state: after a SIGKILL that left every offset uncommitted (so the restarted worker reads
    all of it again), and on another worker after a rebalance, explain gives the same evaluations: none lost,
    and the replayed messages not invented as repeats."""
    from tests.support.kafka import test_settings

    settings = test_settings(broker.bootstrap, tmp_path, commit_interval_seconds=600)
    asyncio.run(ensure_topics(settings))
    first = worker_factory(settings, "first").start()
    t = first.topics
    kafka.produce(t.subscriptions, "vip-1000", b.subscription("vip-1000", "segment", "vip", 1000, recovery=950))
    kafka.flush()
    wait_for_metric(first, "cdp_triggers_subscriptions_active 1.0")
    for event_id, at, count, _ in HISTORY:
        kafka.produce(t.segments, "vip", b.segment("vip", count, at, event_id=event_id))
    kafka.produce(t.segments, "vip", b.segment("vip", -1, 70, event_id="bad"))  # not valid: a dead letter
    kafka.flush()
    expected = [(event_id, outcome) for event_id, _, _, outcome in HISTORY]
    seen = wait_for(
        lambda: (r := ask(settings, "segment", "vip")) and evaluations(r) == expected and r.dead_letters and r,
        30,
        "all",
    )
    [sub] = seen.explanation["subscriptions"]
    [trigger] = triggers_by_id(kafka, t.actions, [sub["last_trigger"]["id"]], timeout=30).values()
    assert trigger[0]["data"]["value"] == 1012 and sub["last_trigger"]["event_id"] == "h4"
    assert [letter.id for letter in seen.dead_letters] == [f"{t.segments}/{seen.partition}/{len(HISTORY)}"]
    time.sleep(1.0)  # the state is flushed to its changelog and store; the offsets are not committed

    first.kill()
    first.start()
    # everything was read again: the five applied ids and the repeat of h4 are repeats by id now
    wait_for_metric(first, f'cdp_triggers_input_ignored_total{{reason="duplicate",topic="{t.segments}"}} 6.0')
    again = wait_for(lambda: (r := ask(settings, "segment", "vip")) and r.applied[t.segments] and r, 30, "restart")
    assert evaluations(again) == expected, "a replay after the SIGKILL changed the history"
    assert again.explanation == seen.explanation

    second = worker_factory(
        settings.model_copy(
            update={"instance_id": "second", "metrics_port": free_port(), "data_dir": tmp_path / "second"}
        ),
        "second",
    ).start()
    first.stop()  # the second worker takes every partition and restores the state from its changelog
    moved = wait_for(lambda: (r := ask(settings, "segment", "vip")) and r.worker == "second" and r, 60, "rebalance")
    assert moved.explanation == seen.explanation
    assert second.running


def test_a_page_of_entities_is_explained_with_one_request_per_partition(kafka, settings, worker):
    from streams.client.explain import explain_many
    from tests.support.kafka import murmur2_partition

    t = worker.topics
    segments = [f"seg-{i}" for i in range(8)]
    assert len({murmur2_partition(s.encode(), settings.partitions) for s in segments}) == 2  # both partitions
    for i, segment in enumerate(segments):
        kafka.produce(t.segments, segment, b.segment(segment, 100 + i, 0, event_id=f"m{i}"))
    kafka.flush()

    def all_values() -> dict:
        found = asyncio.run(explain_many(settings, "segment", [*segments, "never-seen"], timeout=20))
        values = {s: (r.explanation or {}).get("value") for s, r in found.items()}
        return found if len(found) == 9 and all(values[s] is not None for s in segments) else {}

    found = wait_for(all_values, 60, "every segment's answer")
    values = {s: (r.explanation or {}).get("value") for s, r in found.items()}
    assert values == {**{s: 100.0 + i for i, s in enumerate(segments)}, "never-seen": None}
    assert found["seg-0"].key == "segment/seg-0"
