"""Senders and the retry loop against real servers on loopback: aiohttp playing
Teams and a webhook receiver, aiosmtpd receiving mail. No Kafka here."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time

import aiohttp
import orjson
import pytest
from standardwebhooks import Webhook

from schemas.deadletter import DeliveryFailure
from streams.delivery.config import parse
from streams.delivery.deliver import deliver
from streams.delivery.receivers import make_sender
from tests.support.builders import trigger_event
from tests.support.receivers import HttpReceiver, SmtpReceiver

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
FAST = {"max_attempts": 4, "initial_backoff_seconds": 0.2, "max_backoff_seconds": 2, "timeout_seconds": 1}


def routes_for(monkeypatch, receiver: dict):
    monkeypatch.setenv("TEST_SECRET", SECRET)
    monkeypatch.setenv("SMTP_PW", "hunter2")
    return parse({"receivers": [receiver], "route": {"receiver": receiver["name"]}}, "test")


def send(routes, event: dict):
    """Deliver one event through the named receiver; the attempt results and the outcome."""

    async def go():
        async with aiohttp.ClientSession() as session:
            [resolved] = routes.receivers.values()
            attempts = []
            began = time.monotonic()
            result = await deliver(
                make_sender(resolved, session),
                event,
                orjson.dumps(event),
                on_attempt=lambda tried: attempts.append(tried.attempt.result),
            )
            return result, attempts, time.monotonic() - began

    return asyncio.run(go())


def webhook(monkeypatch, server, path="/hook", **extra):
    monkeypatch.setenv("HOOK_URL", server.url(path))
    spec = {
        "name": "hook",
        "webhook": {"url": {"env": "HOOK_URL"}, "signing_secret": {"env": "TEST_SECRET"}, **extra},
        "retry": FAST,
    }
    return routes_for(monkeypatch, spec)


def test_teams_receives_an_adaptive_card(monkeypatch):
    with HttpReceiver() as server:
        monkeypatch.setenv("TEAMS_URL", server.url("/workflows/abc"))
        routes = routes_for(monkeypatch, {"name": "teams", "teams": {"url": {"env": "TEAMS_URL"}}})
        result, attempts, _ = send(routes, trigger_event("failed"))
        [request] = server.on("/workflows/abc")
    assert result.failure is None and attempts == ["ok"]
    assert request.headers["Content-Type"] == "application/json"
    body = orjson.loads(request.body)
    card = body["attachments"][0]["content"]
    assert body["type"] == "message" and card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "Data source refresh failed: CRM contacts"


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_webhook_is_a_signed_cloudevent_that_standardwebhooks_verifies(monkeypatch, mode):
    event = trigger_event("crossed")
    with HttpReceiver() as server:
        result, _, _ = send(webhook(monkeypatch, server, mode=mode), event)
        [request] = server.on("/hook")
    assert result.failure is None
    verified = Webhook(SECRET).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == event["id"]
    if mode == "structured":
        assert request.headers["Content-Type"].startswith("application/cloudevents+json")
        assert verified == event
    else:
        assert request.headers["ce-id"] == event["id"] and request.headers["ce-source"] == event["source"]
        assert verified == event["data"]


def test_500_is_retried_until_it_succeeds_with_the_same_webhook_id(monkeypatch):
    with HttpReceiver(lambda path, n: ("status", 500 if n < 3 else 200)) as server:
        result, attempts, _ = send(webhook(monkeypatch, server), trigger_event("crossed"))
        requests = server.on("/hook")
    assert result.failure is None and attempts == ["http_5xx", "http_5xx", "ok"]
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    assert 0.1 <= gaps[0] <= 0.2 + 0.3 and 0.2 <= gaps[1] <= 0.4 + 0.3  # 0.2 s then 0.4 s steps, jitter in [1/2, 1]


def test_429_waits_for_retry_after(monkeypatch):
    with HttpReceiver(lambda path, n: ("status", 429, {"Retry-After": "1"}) if n == 1 else ("status", 204)) as server:
        result, attempts, _ = send(webhook(monkeypatch, server), trigger_event("crossed"))
        first, second = server.on("/hook")
    assert result.failure is None and attempts == ["http_429", "ok"]
    assert 0.95 <= second.at - first.at <= 1.5  # the backoff alone would have waited at most 0.2 s


def test_400_is_not_retried_and_is_rejected(monkeypatch):
    with HttpReceiver(lambda path, n: ("status", 400)) as server:
        result, attempts, _ = send(webhook(monkeypatch, server), trigger_event("crossed"))
        assert len(server.on("/hook")) == 1
    assert result.failure is DeliveryFailure.REJECTED and attempts == ["http_4xx"]
    assert result.last.detail == "HTTP 400: answer"


def test_a_slow_receiver_times_out_each_attempt_then_exhausts(monkeypatch):
    with HttpReceiver(lambda path, n: ("slow", 3)) as server:
        result, attempts, elapsed = send(webhook(monkeypatch, server), trigger_event("crossed"))
        assert len(server.on("/hook")) == 4
    assert result.failure is DeliveryFailure.EXHAUSTED and attempts == ["timeout"] * 4
    # 4 timeouts of 1 s plus waits of 0.1-0.2, 0.2-0.4, 0.4-0.8 s
    assert 4 + 0.7 <= elapsed <= 4 + 1.4 + 1.0


def test_a_closed_connection_is_retried(monkeypatch):
    with HttpReceiver(lambda path, n: ("close",) if n == 1 else ("status", 202)) as server:
        result, attempts, _ = send(webhook(monkeypatch, server), trigger_event("crossed"))
    assert result.failure is None and attempts == ["connection", "ok"]


def test_a_refused_connection_is_retried_and_the_url_not_reported(monkeypatch):
    from tests.support.kafka import free_port

    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/secret-path?sig=TOPSECRET")
    routes = routes_for(
        monkeypatch, {"name": "hook", "webhook": {"url": {"env": "HOOK_URL"}}, "retry": {**FAST, "max_attempts": 2}}
    )
    result, attempts, _ = send(routes, trigger_event("crossed"))
    assert result.failure is DeliveryFailure.EXHAUSTED and attempts == ["connection", "connection"]
    assert "TOPSECRET" not in result.last.detail and "secret-path" not in result.last.detail


def email_receiver(monkeypatch, smtp, **target):
    spec = {
        "name": "owners",
        "email": {
            "from": "cdp@example.com",
            "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            **target,
        },
        "retry": FAST,
    }
    return routes_for(monkeypatch, spec)


def test_email_to_route_addresses_and_the_owner_with_both_parts(monkeypatch):
    with SmtpReceiver() as smtp:
        routes = email_receiver(monkeypatch, smtp, to=["data-team@example.com"], to_owner=True)
        result, attempts, _ = send(routes, trigger_event("crossed"))
        [mail] = smtp.mails
    assert result.failure is None and attempts == ["ok"]
    assert mail.sender == "cdp@example.com"
    assert sorted(mail.recipients) == ["data-team@example.com", "owner@example.com"]
    assert (
        mail.message["Subject"] == "[cdp-triggers] Segment threshold crossed: VIP customers at 1,012 (threshold 1,000)"
    )
    assert "990 → 1,012" in mail.message.get_body(("plain",)).get_content()
    assert "<table>" in mail.message.get_body(("html",)).get_content()


def starttls_auth(smtp) -> dict:
    """A receiver logging in as cdp/hunter2 over STARTTLS (self-signed certificate)."""
    return {
        "name": "owners",
        "email": {
            "from": "cdp@example.com",
            "to": ["a@example.com"],
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "starttls",
                "username": "cdp",
                "password": {"env": "SMTP_PW"},
                "validate_certs": False,
            },
        },
        "retry": FAST,
    }


@pytest.mark.subprocess
def test_email_with_starttls_and_auth(monkeypatch, tmp_path):
    with SmtpReceiver(tls_dir=tmp_path, users={"cdp": "hunter2"}) as smtp:
        result, attempts, _ = send(routes_for(monkeypatch, starttls_auth(smtp)), trigger_event("failed"))
        [mail] = smtp.mails
    assert result.failure is None, result.last
    assert mail.login == "cdp" and mail.recipients == ["a@example.com"]


@pytest.mark.subprocess
def test_wrong_smtp_password_is_rejected_not_retried(monkeypatch, tmp_path):
    with SmtpReceiver(tls_dir=tmp_path, users={"cdp": "other"}) as smtp:
        result, attempts, _ = send(routes_for(monkeypatch, starttls_auth(smtp)), trigger_event("failed"))
    assert result.failure is DeliveryFailure.REJECTED and attempts == ["smtp_5xx"]
    assert "hunter2" not in result.last.detail


def test_transient_smtp_reply_is_retried_and_refused_recipient_rejected(monkeypatch):
    with SmtpReceiver() as smtp:
        smtp.handler.data_reply = lambda n: "451 4.3.0 try again later" if n == 1 else None
        result, attempts, _ = send(email_receiver(monkeypatch, smtp, to=["a@example.com"]), trigger_event("failed"))
        assert result.failure is None and attempts == ["smtp_4xx", "ok"] and len(smtp.mails) == 1
        smtp.handler.refuse = {"gone@example.com"}
        result, attempts, _ = send(email_receiver(monkeypatch, smtp, to=["gone@example.com"]), trigger_event("failed"))
    assert result.failure is DeliveryFailure.REJECTED and attempts == ["smtp_5xx"]


def test_owner_that_is_not_an_address_means_no_recipients(monkeypatch):
    with SmtpReceiver() as smtp:
        routes = email_receiver(monkeypatch, smtp, to_owner=True)
        result, attempts, _ = send(routes, trigger_event("crossed", owner="marketing team"))
        assert smtp.mails == []
    assert result.failure is DeliveryFailure.NO_RECIPIENTS and attempts == ["no_recipients"]
