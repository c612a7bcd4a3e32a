"""The operations endpoints on the real broker, worker and dispatcher: only an ``operate`` key reaches them; a
dead letter is listed, refused while still invalid, dry-run, replayed with a fix (its trigger fires once) and
refused the second time; after an outage the given-up deliveries are redelivered once each, and asking again
sends nothing."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.delivery.test_redeliver import Outage, _outage
from tests.support import builders as b
from tests.support.api import Api, api_settings, create_key, start_api
from tests.support.metrics import wait_for_metric
from tests.support.receivers import HttpReceiver
from tests.support.scenario import settle_pipeline, settle_workers
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]
PROBLEM = "application/problem+json"


def test_dead_letters_are_listed_and_replayed_through_the_api_all_or_nothing_and_once(
    kafka, settings, worker_factory, tmp_path
):
    s = api_settings(settings)
    process, ops = start_api(s, tmp_path / "api.log", "operate")
    try:
        worker = worker_factory(s).start()
        t = worker.topics
        for scope in ("read", "write"):
            other = Api(ops.base, create_key(s, scope, scope))
            refused = other.call("GET", "/v1/dead-letters")
            assert refused.status_code == 403 and "needs 'operate'" in refused.json()["detail"], refused.text
        assert ops.call("DELETE", "/v1/subscriptions/x").status_code == 403  # operate does not write

        kafka.produce_all(t.subscriptions, [("vip-1000", b.subscription("vip-1000", "segment", "vip", 1000))])
        wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")
        bad = b.segment("vip", 0, 10.0) | {"member_count": "1,200"}
        kafka.produce_all(t.segments, [("vip", b.segment("vip", 900, 0.0)), ("vip", bad)])

        def listed() -> dict:
            answer = ops.call("GET", "/v1/dead-letters", params={"reason": "schema"})
            assert answer.status_code == 200, answer.text
            return answer.json()

        page = wait_for(lambda: listed()["total"] == 1 and listed(), 60, "the dead letter", worker.log)
        [letter] = page["items"]
        assert page["counts_by_reason"] == {"schema": 1} and letter["topic"] == t.segments and not letter["replays"]
        assert "member_count" in letter["error"]

        still_bad = ops.call("POST", "/v1/dead-letters:replay", json={"ids": [letter["id"]]})
        assert still_bad.status_code == 422 and still_bad.headers["Content-Type"] == PROBLEM, still_bad.text
        problem = still_bad.json()
        assert problem["type"].endswith("replay-refused") and "still invalid: schema" in problem["detail"]
        assert problem["errors"][0]["field"] == f"dead letter {letter['id']}"
        unknown = ops.call("POST", "/v1/dead-letters:replay", json={"ids": ["nope/0/1"]})
        assert unknown.status_code == 422 and "no such dead letter: nope/0/1" in unknown.json()["detail"]
        nothing = ops.call("POST", "/v1/dead-letters:replay", json={})
        assert nothing.status_code == 422 and "choose what to replay" in nothing.json()["detail"]

        fix = {"fixes": [{"dead_letter_id": letter["id"], "event": b.segment("vip", 1200, 10.0)}]}
        dry = ops.call("POST", "/v1/dead-letters:replay", json={**fix, "dry_run": True})
        assert dry.status_code == 200 and dry.json()["dry_run"] and len(dry.json()["items"]) == 1, dry.text
        assert len(kafka.read(t.segments, idle=1.0)) == 2, "a dry run published"  # its 200 came after any write

        done = ops.call("POST", "/v1/dead-letters:replay", json=fix)
        assert done.status_code == 200, done.text
        [replayed] = done.json()["items"]
        assert replayed["fixed"] and replayed["key"] == "vip" and replayed["topic"] == t.segments

        def triggers() -> list[dict]:
            return [json.loads(m.value()) for m in kafka.read(t.actions, idle=2.0, timeout=30)]

        [fired] = wait_for(triggers, 60, "the replayed trigger", worker.log)
        assert fired["data"]["value"] == 1200 and fired["data"]["previous_value"] == 900

        again = ops.call("POST", "/v1/dead-letters:replay", json=fix)
        assert again.status_code == 422 and "already replayed by api-key" in again.json()["detail"], again.text
        [recorded] = listed()["items"][0]["replays"]
        assert recorded["event_id"] == replayed["event_id"] and recorded["by"].startswith("api-key ")
        settle_workers(s)  # no dispatcher here
        assert len(triggers()) == 1, "a trigger fired twice"
    finally:
        process.stop()


def test_given_up_deliveries_are_redelivered_through_the_api_once_each(kafka, settings, worker_factory, tmp_path):
    s = api_settings(settings)
    process, ops = start_api(s, tmp_path / "api.log", "operate")
    outage = Outage()
    try:
        with HttpReceiver(outage) as http:
            d, ids = _outage(kafka, s, worker_factory, tmp_path, http, 8)

            def failed(**params: str) -> dict:
                answer = ops.call("GET", "/v1/deliveries/failed", params={"receiver": "hook", **params})
                assert answer.status_code == 200, answer.text
                return answer.json()

            page = failed()
            assert page["total"] == 8 and page["undelivered"] == 8
            assert {i["status"] for i in page["items"]} == {"undelivered"} and page["items"][0]["attempts"] == 3
            outage.down = False
            during_outage = len(http.on("/hook"))

            # a preview by trigger type asks nothing; a type that does not exist is named
            typed = {"receiver": "hook", "type": "segment.threshold.crossed", "dry_run": True}
            preview = ops.call("POST", "/v1/deliveries:redeliver", json=typed)
            assert preview.status_code == 202 and preview.json()["dry_run"], preview.text
            assert sorted(preview.json()["requested"]) == sorted(i["id"] for i in page["items"])
            wrong = ops.call("POST", "/v1/deliveries:redeliver", json={**typed, "type": "nope"})
            assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.type", wrong.text
            assert failed(type="datasource.refresh.failed")["total"] == 0
            settle_pipeline(s)
            assert len(http.on("/hook")) == during_outage, "the preview sent something"

            asked = ops.call("POST", "/v1/deliveries:redeliver", json={"receiver": "hook"})
            assert asked.status_code == 202 and len(asked.json()["requested"]) == 8, asked.text
            wait_for(lambda: failed(undelivered="true")["total"] == 0, 60, "the redeliveries", d.log)
            accepted = Counter(r.headers["webhook-id"] for r in http.on("/hook")[during_outage:])
            assert set(accepted) == set(ids) and max(accepted.values()) == 1, accepted
            assert {i["status"] for i in failed()["items"]} == {"delivered"}

            again = ops.call("POST", "/v1/deliveries:redeliver", json={"receiver": "hook"})
            assert again.status_code == 202 and again.json() == {
                "dry_run": False,
                "requested": [],
                "already_delivered": [i["id"] for i in failed()["items"]],
            }, again.text
            settle_pipeline(s)
            assert len(http.on("/hook")) == during_outage + 8, "asking again sent something"
    finally:
        process.stop()
