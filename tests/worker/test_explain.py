"""``explain``: the worker that owns a key answers from its own state, through Kafka, for each kind; the CLI
shows it in words, the API answers the same; a control message that is not a command is skipped, not fatal."""

from __future__ import annotations

import asyncio

import pytest

from streams.client.explain import explain
from tests.support import builders as b
from tests.support.api import api_settings, start_api
from tests.support.cli import cli
from tests.support.metrics import wait_for_metric
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
    kafka.flush()
    fired = wait_for(lambda: (r := ask(settings, "segment", "vip")).explanation["value"] == 1012.0 and r, 30, "1012")
    [sub] = fired.explanation["subscriptions"]
    assert sub["status"] == "waiting" and "re-arms below 950" in sub["why"], sub

    run = wait_for(lambda: (r := ask(settings, "run", "r-9")).explanation.get("known") and r, 30, "the run")
    said = run.explanation
    assert said["pending"] == ["segment:churn"] and said["tasks"]["segment:vip"]["status"] == "succeeded", said
    assert said["stalls_at"] == b.at(settings.stall_after_seconds) and said["fired"] == []
    assert said["partition_clock"] == b.at(120)  # the latest event time on the run's partition

    source = ask(settings, "data-source", "crm").explanation
    assert source["known"] and source["runs"] == [
        {"refresh_run_id": "ds-run-1", "started_at": None, "retried_failures": 1}
    ], source
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
