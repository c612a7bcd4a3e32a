"""The Teams-outage-overnight incident, on the real broker and dispatcher: a receiver down long enough that every
delivery is given up; once it is back, `deliveries redeliver` sends each exactly once with its original webhook
id (which the receiver verifies), a second redeliver sends nothing, and a dispatcher SIGKILLed mid-redeliver
repeats at most the delivery in flight."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from standardwebhooks import Webhook

from tests.cli.test_cli import cli
from tests.support.dispatcher import SECRET, dispatcher_settings, produce_triggers, routes_file
from tests.support.measured import measured
from tests.support.receivers import HttpReceiver
from tests.support.scenario import settle
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


class Outage:
    """The receiver: 503 while down, then 202 (after ``delay`` seconds)."""

    def __init__(self) -> None:
        self.down, self.delay = True, 0.0

    def __call__(self, path: str, n: int) -> tuple:
        if self.down:
            return ("status", 503)
        return ("slow", self.delay)


def _given_up(settings) -> list[dict]:
    listed = cli(settings, "deliveries", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def _outage(kafka, settings, worker_factory, tmp_path, http, n: int):
    """A dispatcher, ``n`` trigger events, and every delivery given up while the receiver is down."""
    _, env = routes_file(tmp_path, http, None)
    d = worker_factory(dispatcher_settings(settings), "dispatcher", "dispatcher", env)
    ids = produce_triggers(kafka, d.topics.actions, n, subjects=7)
    d.start()
    given_up = wait_for(lambda: len(_given_up(settings)) == n and _given_up(settings), 90, f"{n} given up", d.log)
    assert {g["reason"] for g in given_up} == {"exhausted"} and {g["receiver"] for g in given_up} == {"hook"}
    return d, ids


def _accepted(http: HttpReceiver, since: int) -> Counter:
    return Counter(r.headers["webhook-id"] for r in http.on("/hook")[since:])


def test_after_an_outage_redeliver_sends_each_given_up_delivery_once_with_its_webhook_id(
    kafka, settings, worker_factory, tmp_path
):
    outage = Outage()
    with HttpReceiver(outage) as http:
        d, ids = _outage(kafka, settings, worker_factory, tmp_path, http, 20)
        listed = cli(settings, "deliveries", "list", "--undelivered")
        assert "20 given up, 20 undelivered" in listed.stdout, listed.stdout + listed.stderr
        outage.down = False
        during_outage = len(http.on("/hook"))
        preview = cli(settings, "deliveries", "redeliver", "--type", "segment.threshold.crossed", "--dry-run")
        assert preview.returncode == 0 and "20 would be redelivered (--dry-run: nothing asked)" in preview.stdout
        other = cli(settings, "deliveries", "redeliver", "--type", "datasource.refresh.failed", "--dry-run")
        assert other.returncode == 0 and "nothing to redeliver" in other.stdout, other.stdout + other.stderr
        settle(settings.kafka_bootstrap, settings.dispatcher_app_id, [d.topics.redeliveries])
        assert len(http.on("/hook")) == during_outage, "a dry run asked for a redelivery"
        done = cli(settings, "deliveries", "redeliver", "--receiver", "hook", "--by", "ops", "--wait", "90")
        assert done.returncode == 0 and "20 delivered, 0 failed again, 0 pending" in done.stdout, (
            done.stdout + d.log()[-3000:]
        )
        accepted = _accepted(http, during_outage)
        assert set(accepted) == set(ids) and max(accepted.values()) == 1, accepted
        for r in http.on("/hook")[during_outage:]:
            assert Webhook(SECRET).verify(r.body, r.headers)["id"] == r.headers["webhook-id"]
        again = cli(settings, "deliveries", "redeliver", "--receiver", "hook")
        assert again.returncode == 0 and "nothing to redeliver (20 delivered already)" in again.stdout, again.stdout
        settle(settings.kafka_bootstrap, settings.dispatcher_app_id, [d.topics.actions, d.topics.redeliveries])
        assert len(http.on("/hook")) == during_outage + 20, "a second redeliver sent something"
        assert "0 undelivered" in cli(settings, "deliveries", "list").stdout


def test_a_dispatcher_killed_mid_redeliver_repeats_at_most_the_delivery_in_flight(
    kafka, settings, worker_factory, tmp_path
):
    outage, n = Outage(), 40
    with HttpReceiver(outage) as http:
        d, ids = _outage(kafka, settings, worker_factory, tmp_path, http, n)
        outage.down, outage.delay = False, 0.1
        during_outage = len(http.on("/hook"))
        asked = cli(settings, "deliveries", "redeliver", "--receiver", "hook", "--wait", "0")
        assert asked.returncode == 0 and f"redeliver {n}" in asked.stdout, asked.stderr
        wait_for(lambda: len(http.on("/hook")) - during_outage >= n // 3, 60, "a third redelivered", d.log)
        d.kill()
        d.start()
        wait_for(lambda: set(_accepted(http, during_outage)) == set(ids), 90, "every redelivery", d.log)
        settle(settings.kafka_bootstrap, settings.dispatcher_app_id, [d.topics.actions, d.topics.redeliveries])
        accepted = _accepted(http, during_outage)
    repeats = sum(c > 1 for c in accepted.values())
    assert max(accepted.values()) <= 2 and repeats <= 1, accepted
    measured(
        "redeliver-kill",
        f"{n} deliveries given up in an outage, redelivered, the dispatcher SIGKILLed a third of the way: "
        f"{len(accepted)} of {n} delivered, {repeats} repeated (same webhook id)",
        deliveries=n,
        repeats=repeats,
    )
