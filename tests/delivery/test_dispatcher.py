"""The dispatcher on the real broker: change events in, messages received by
real servers on loopback (aiohttp for Teams and webhooks, aiosmtpd for mail)."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC

import pytest
from standardwebhooks import Webhook

from tests.support import builders as b
from tests.support.dispatcher import SECRET, dispatcher_settings, produce_triggers, routes_file
from tests.support.measured import measured
from tests.support.metrics import wait_for_metric
from tests.support.receivers import HttpReceiver, SmtpReceiver
from tests.support.scenario import settle
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_seed_examples_from_change_event_to_teams_and_email(kafka, settings, worker_factory, tmp_path):
    worker = worker_factory(settings).start()
    t = worker.topics
    with HttpReceiver(lambda path, n: ("status", 400 if path == "/broken" else 202)) as http, SmtpReceiver() as smtp:
        _, env = routes_file(tmp_path, http, smtp)
        dispatcher = worker_factory(dispatcher_settings(settings), "dispatcher", "dispatcher", env).start()
        kafka.produce_all(t.subscriptions, [("vip", b.subscription("vip", "segment", "vip", 1000))])
        wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")
        kafka.produce_all(
            t.datasources,
            [
                ("crm", b.datasource("crm", "started", 0)),
                ("crm", b.datasource("crm", "failed", 20, will_retry=False)),
                ("erp", b.datasource("erp", "started", 0, run="n1")),
                ("erp", b.datasource("erp", "succeeded", 30, run="n1")),
            ],
        )
        kafka.produce_all(t.segments, [("vip", b.segment("vip", n, i)) for i, n in enumerate([900, 1200])])

        wait_for(
            lambda: (
                len(http.on("/teams")) >= 1
                and len(smtp.mails) >= 1
                and len(http.on("/hook")) >= 3
                and len(http.on("/broken")) >= 1
            ),
            60,
            "deliveries",
            dispatcher.log,
        )
        settle(kafka.bootstrap, settings.dispatcher_app_id, [t.actions])  # a repeat that was coming has come
        teams, mails, hooks = http.on("/teams"), list(smtp.mails), http.on("/hook")

    # Example 1: a Teams message when a data source refresh fails.
    [card_request] = teams
    card = json.loads(card_request.body)["attachments"][0]["content"]
    assert card["body"][0]["text"].startswith("Data source refresh failed: ")
    assert {"title": "Data source", "value": "Source crm (crm)"} in card["body"][2]["facts"]
    # Example 2: an email to the data owner when a segment threshold is crossed.
    [mail] = mails
    assert mail.recipients == ["owner@example.com"]
    assert mail.message["Subject"] == "[cdp-triggers] Segment threshold crossed: Segment vip at 1,200 (threshold 1,000)"
    assert "900 → 1,200" in mail.message.get_body(("plain",)).get_content()
    assert mail.message.get_body(("html",)) is not None
    # Every trigger event to the signed webhook, verified as the receiver would.
    events = [Webhook(SECRET).verify(r.body, r.headers) for r in hooks]
    assert sorted(e["type"].split(".")[2] for e in events) == ["datasource", "datasource", "segment"]
    assert len({e["id"] for e in events}) == 3
    # The 400 receiver: one attempt, then the delivery dead-letter topic, with the reason.
    assert len(http.on("/broken")) == 1
    [dead] = kafka.read_json(t.delivery_dead_letter, until=1, timeout=20)
    assert (dead["reason"], dead["receiver"], dead["attempts"]) == ("rejected", "broken", 1)
    assert dead["error"].startswith("HTTP 400") and dead["event"]["type"].endswith("datasource.refresh.succeeded.v1")
    metrics = _metrics(dispatcher)
    assert 'cdp_triggers_deliveries_total{outcome="delivered",receiver_type="teams"} 1.0' in metrics
    assert 'cdp_triggers_deliveries_total{outcome="delivered",receiver_type="email"} 1.0' in metrics
    assert 'cdp_triggers_delivery_dead_lettered_total{reason="rejected",receiver_type="webhook"} 1.0' in metrics


def _metrics(process) -> str:
    import urllib.request

    return (
        urllib.request.urlopen(f"http://127.0.0.1:{process.settings.metrics_port}/metrics", timeout=5).read().decode()
    )


def test_dispatcher_killed_mid_delivery_delivers_each_event_once_but_for_the_in_flight_one(
    kafka, settings, worker_factory, tmp_path
):
    """Trigger events straight onto the actions topic; the webhook answers after
    40 ms so a SIGKILL always lands mid-delivery. After three kills and a
    restart every event arrived, and only events in flight at a kill (at most
    one per kill, as one event goes to one receiver here) arrived twice."""
    n, kills = 300, 3
    with HttpReceiver(lambda path, i: ("slow", 0.04)) as http:
        _, env = routes_file(tmp_path, http, None)
        d = worker_factory(dispatcher_settings(settings), "dispatcher", "dispatcher", env)
        ids = produce_triggers(kafka, d.topics.actions, n)
        d.start()
        for k in range(kills):
            target = (k + 1) * n // (kills + 2)
            wait_for(lambda target=target: len(http.on("/hook")) >= target, 60, f"{target} deliveries", d.log)
            d.kill()
            d.start()
        wait_for(lambda: set(ids) <= {r.headers["webhook-id"] for r in http.on("/hook")}, 90, "all ids", d.log)
        settle(kafka.bootstrap, settings.dispatcher_app_id, [d.topics.actions])
        counts = Counter(r.headers["webhook-id"] for r in http.on("/hook"))
    assert set(counts) == set(ids)
    repeats = {i: c for i, c in counts.items() if c > 1}
    measured(
        "dispatcher-kills",
        f"{len(ids)} events, {kills} SIGKILLs: {len(counts)} of {len(ids)} delivered, {len(repeats)} repeats",
        events=len(ids),
        kills=kills,
        repeats=len(repeats),
    )
    assert max(counts.values()) <= 2, repeats
    assert len(repeats) <= kills, f"{len(repeats)} events repeated after {kills} kills: {repeats}"
    assert 'receiver_type="webhook"' in _metrics(d)


def test_a_dispatcher_killed_mid_delivery_to_an_api_hook_loses_nothing_and_repeats_only_in_flight(
    kafka, settings, worker_factory, tmp_path
):
    """The same for a hook of the API: it is read from the hooks topic before
    the restarted dispatcher routes anything, so a replay reaches it too."""
    from datetime import datetime, timedelta

    from schemas.hooks import Hook, hook_secret
    from tests.support.api import SIGNING_KEY, api_settings

    n, kills = 200, 2
    with HttpReceiver(lambda path, i: ("slow", 0.04), tls_dir=tmp_path / "tls") as https:
        s = api_settings(
            dispatcher_settings(settings),
            hook_allowed_networks=["127.0.0.1/32"],
            hook_ca_file=https.ca_file,
            routes_file=None,
        )
        hook = Hook(
            id="hk_" + "a" * 24,
            url=https.url("/hook"),
            types=["segment.threshold.crossed"],
            nonce="n" * 32,
            created_at=datetime.now(UTC) - timedelta(minutes=1),
            created_by="test",
        )
        kafka.produce(s.topic("hooks"), hook.id, hook.model_dump(mode="json"))
        d = worker_factory(s, "dispatcher", "dispatcher")
        ids = produce_triggers(kafka, d.topics.actions, n)
        d.start()
        for k in range(kills):
            target = (k + 1) * n // (kills + 2)
            wait_for(lambda target=target: len(https.on("/hook")) >= target, 60, f"{target} deliveries", d.log)
            d.kill()
            d.start()
        wait_for(lambda: set(ids) <= {r.headers["webhook-id"] for r in https.on("/hook")}, 90, "all ids", d.log)
        settle(kafka.bootstrap, settings.dispatcher_app_id, [d.topics.actions])
        requests = https.on("/hook")
    counts = Counter(r.headers["webhook-id"] for r in requests)
    measured(
        "dispatcher-hook-kills",
        f"{len(ids)} events, {kills} SIGKILLs: {len(counts)} of {len(ids)} delivered, "
        f"{sum(c > 1 for c in counts.values())} repeats (same webhook id)",
        events=len(ids),
        kills=kills,
        repeats=sum(c > 1 for c in counts.values()),
    )
    assert set(counts) == set(ids) and max(counts.values()) <= 2
    assert sum(c > 1 for c in counts.values()) <= kills, counts
    secret = hook_secret(SIGNING_KEY.encode(), hook.id, hook.nonce)
    assert {Webhook(secret).verify(r.body, r.headers)["id"] for r in requests} == set(ids)
    assert 'receiver_type="hook"' in _metrics(d)


def test_worker_with_dispatcher_runs_both_and_stops_both(kafka, settings, worker_factory, tmp_path):
    import os
    import re
    import signal

    with HttpReceiver() as http:
        _, env = routes_file(tmp_path, http, None)
        worker = worker_factory(settings, "worker", "worker --with-dispatcher", env).start()
        kafka.produce_all(
            worker.topics.datasources,
            [
                ("crm", b.datasource("crm", "started", 0)),
                ("crm", b.datasource("crm", "failed", 20, will_retry=False)),
            ],
        )
        wait_for(lambda: len(http.on("/teams")) == 1 and len(http.on("/hook")) == 1, 60, "deliveries", worker.log)
        child = int(re.search(r"dispatcher started \(pid (\d+)\)", worker.log()).group(1))
        os.kill(worker.proc.pid, signal.SIGTERM)  # the worker alone, not its process group
        assert worker.proc.wait(40) == 0
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # the child may take a moment to be reaped
            os.kill(child, 0)
            time.sleep(0.2)


def test_a_dispatcher_that_dies_stops_its_worker_with_a_failure_code(kafka, settings, worker_factory, tmp_path):
    """``--with-dispatcher``: a dispatcher killed by anything makes the worker exit non-zero, so that a supervisor
    that restarts only failures (systemd's Restart=on-failure) brings both back."""
    import os
    import re
    import signal

    from streams.kafka.exits import EXIT_STALLED

    with HttpReceiver() as http:
        _, env = routes_file(tmp_path, http, None)
        worker = worker_factory(settings, "worker", "worker --with-dispatcher", env).start()
        wait_for(lambda: re.search(r"dispatcher started \(pid (\d+)\)", worker.log()), 30, "the dispatcher", worker.log)
        child = int(re.search(r"dispatcher started \(pid (\d+)\)", worker.log()).group(1))
        os.kill(child, signal.SIGKILL)
        assert worker.proc.wait(40) == EXIT_STALLED, worker.log()[-3000:]
    assert "the dispatcher exited with code -9" in worker.log()
