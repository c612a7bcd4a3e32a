"""The REST-hooks lifecycle on real parts: broker, worker, dispatcher, the API
process and an HTTPS callback with a CA of its own (allowed by the test's
allow-list). Registered and subscribed through the API, fired by change
events from another client (librdkafka), verified with the reference
``standardwebhooks`` package, and silent once deleted."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.api import hooks_pipeline
from tests.support.builders import segment
from tests.support.scenario import settle_pipeline
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_a_hook_registered_through_the_api_gets_signed_triggers_until_deleted(
    settings, kafka, worker_factory, tmp_path
):
    with hooks_pipeline(settings, worker_factory, tmp_path) as (receiver, s, api):
        created = api.call(
            "POST",
            "/v1/hooks",
            json={
                "url": receiver.url("/flow-a?sig=abc"),
                "types": ["segment.threshold.crossed"],
                "filter": {"entity_kind": "segment", "entity_id": "vip"},
                "description": "flow A",
            },
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        assert created.headers["Location"].endswith(f"/v1/hooks/{hook['id']}")
        assert hook["secret"].startswith("whsec_") and hook["url"].endswith("/flow-a?redacted")
        other = api.call(
            "POST", "/v1/trigger-types/segment.threshold.crossed/hooks", json={"url": receiver.url("/flow-b")}
        )
        assert other.status_code == 201, other.text

        sub = api.call(
            "PUT",
            "/v1/subscriptions/vip-100",
            json={"entity_kind": "segment", "entity_id": "vip", "threshold": 100, "owner": "ann@example.com"},
        )
        assert sub.status_code == 201 and sub.headers["Location"].endswith("/v1/subscriptions/vip-100")
        assert api.call("GET", "/v1/subscriptions/vip-100").json()["threshold"] == 100

        now = time.time()
        kafka.produce_all(
            s.topic("segment-changes"), [("vip", segment("vip", 50, now)), ("vip", segment("vip", 150, now + 1))]
        )
        first = wait_for(lambda: receiver.on("/flow-a"), what="the first crossing at flow A")[0]
        event = Webhook(hook["secret"]).verify(first.body, first.headers)
        assert event["type"] == "io.cdptriggers.segment.threshold.crossed.v1"
        assert event["data"]["subscription_id"] == "vip-100" and event["data"]["value"] == 150
        assert first.headers["webhook-id"] == event["id"]
        wait_for(lambda: receiver.on("/flow-b"), what="the first crossing at flow B")
        attempts = wait_for(
            lambda: (a := api.call("GET", f"/v1/hooks/{hook['id']}/attempts").json())["total"] and a,
            what="flow A's attempt record",
        )
        [tried] = attempts["items"]  # only this hook's, not flow B's
        assert (tried["trigger_id"], tried["outcome"], tried["attempt"]) == (event["id"], "delivered", 1)
        assert tried["receiver"] == f"hook:{hook['id']}" and attempts["health"][tried["receiver"]]["delivered"] == 1

        # a test send to a callback that checks signatures: with a secret it was not given, it refuses, and the
        # test shows its answer; with the hook's, it takes it
        checked_with = ["whsec_" + base64.b64encode(b"an old secret, not this hook's!!").decode()]

        def checking(path: str, n: int) -> tuple:
            request = receiver.on(path)[-1]
            try:
                Webhook(checked_with[0]).verify(request.body, request.headers)
            except WebhookVerificationError:
                return ("status", 401, {}, "invalid signature")
            return ("status", 204, {})

        receiver.script = lambda path, n: checking(path, n) if path == "/checking" else ("status", 202, {})
        strict = api.call(
            "POST", "/v1/hooks", json={"url": receiver.url("/checking"), "types": ["datasource.refresh.failed"]}
        )
        assert strict.status_code == 201, strict.text
        tested = api.call("POST", f"/v1/hooks/{strict.json()['id']}/test")
        assert tested.status_code == 200, tested.text
        [result] = tested.json()["results"]
        assert (result["type"], result["delivered"], result["attempt"]) == (
            "datasource.refresh.failed",
            False,
            "http_4xx",
        )
        assert "401" in result["detail"] and "invalid signature" in result["detail"], result
        sent = Webhook(strict.json()["secret"]).verify(
            receiver.on("/checking")[0].body, receiver.on("/checking")[0].headers
        )
        assert sent["cdptest"] is True and sent["id"] == result["event_id"] and sent["id"].startswith("test-")
        checked_with[0] = strict.json()["secret"]
        [result] = api.call("POST", f"/v1/hooks/{strict.json()['id']}/test").json()["results"]
        assert result["delivered"] and result["attempt"] == "ok", result
        assert api.call("POST", "/v1/hooks/hk_" + "0" * 24 + "/test").status_code == 404

        deleted = api.call("DELETE", created.headers["Location"])
        assert deleted.status_code == 204
        assert api.call("GET", created.headers["Location"]).status_code == 404

        kafka.produce_all(
            s.topic("segment-changes"), [("vip", segment("vip", 50, now + 2)), ("vip", segment("vip", 160, now + 3))]
        )
        # flow B still registered: once it has the second crossing, the dispatcher has routed it
        wait_for(lambda: len(receiver.on("/flow-b")) >= 2, what="the second crossing at flow B")
        settle_pipeline(s)
        assert len(receiver.on("/flow-a")) == 1, "a deleted hook still received a trigger"
        second = orjson.loads(receiver.on("/flow-b")[1].body)
        assert second["data"]["value"] == 160
