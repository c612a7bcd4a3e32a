"""Change events over HTTP, served in process: an invalid batch writes nothing and names each bad item, the
limits on batch size and events a minute, and which key scopes may publish. Kafka's part (acknowledgement, a
retried batch, a broker that is down) is in ``test_ingest``."""

from __future__ import annotations

import orjson

from tests.support import builders as b
from tests.support.memory_store import in_process_api, memory_settings

NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(items: list[dict]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def test_an_invalid_batch_names_each_bad_item_and_writes_nothing():
    limits = memory_settings(api_max_batch_events=5, api_publish_events_per_minute=12)
    with in_process_api(limits, "publish") as api:
        good = {"kind": "segment", "event": b.segment("s1", 5, 1, event_id="ok-1")}
        bad = [
            good,
            {"kind": "segment", "event": {**b.segment("s1", 5, 2), "member_count": 1.5}},
            {"kind": "gauge", "event": {}},
            {"kind": "run", "event": b.run_started("r", [("unification", "dedupe")], 3)},
        ]
        refused = api.call("POST", "/v1/events", json=bad)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert problem["detail"].startswith("3 of 4 items are invalid, so nothing was written")
        where = {(e["index"], e["field"]) for e in problem["errors"]}
        assert (1, "event.member_count") in where and (2, "kind") in where
        assert any(i == 3 and f.startswith("event.run_started.tasks.0") for i, f in where), where

        lines = ndjson([good]) + b"{not json\n"
        broken = api.call("POST", "/v1/events", data=lines, headers=NDJSON)
        assert broken.status_code == 422 and broken.json()["errors"][0]["index"] == 1, broken.text
        assert api.call("POST", "/v1/events", json=[]).status_code == 422
        assert api.call("POST", "/v1/events", data=b"x", headers={"Content-Type": "text/csv"}).status_code == 415
        single = api.call("POST", "/v1/events/segment", json={**b.segment("s1", 5, 4), "member_count": -1})
        assert single.status_code == 422 and single.json()["errors"][0]["field"] == "body.member_count"
        assert api.store.written == []  # nothing of the above was written

        too_many = api.call("POST", "/v1/events", json=[good] * 6)
        assert too_many.status_code == 413 and "CDP_API_MAX_BATCH_EVENTS" in too_many.json()["detail"]

        # the rate limit counts events (refused ones too), per key: 12 a minute, so 5 + 5 + 1 + 1 pass, 5 more do not
        fresh = api.store.add_key("publish")
        for n in range(2):
            batch = [{"kind": "segment", "event": b.segment("s2", i, 10 * n + i)} for i in range(5)]
            assert api.call("POST", "/v1/events", key=fresh, json=batch).status_code == 202
        for i in range(2):  # a batch of one counts one event, like a single POST
            assert api.call("POST", "/v1/events", key=fresh, json=[good]).status_code == 202, i
        limited = api.call("POST", "/v1/events", key=fresh, json=[good] * 5)
        assert limited.status_code == 429 and "events a minute" in limited.json()["detail"], limited.text
        assert int(limited.headers["Retry-After"]) >= 1

        # scopes: read and operate keys cannot publish (write can: a Power Automate connection holds one key),
        # and a publish key reads nothing
        for scope in ("read", "operate"):
            other = api.store.add_key(scope)
            assert api.call("POST", "/v1/events/segment", key=other, json=good["event"]).status_code == 403
        writer = api.store.add_key("write")
        assert api.call("POST", "/v1/events/segment", key=writer, json=good["event"]).status_code == 202
        publisher = api.store.add_key("publish")
        assert api.call("GET", "/v1/subscriptions", key=publisher).status_code == 403


def test_events_kafka_did_not_acknowledge_are_named_with_how_to_retry():
    from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

    with in_process_api(scope="publish") as api:
        batch = [{"kind": "measure", "event": b.measure("revenue", 10.0 * i, i, event_id=f"m-{i}")} for i in range(3)]
        api.store.refuse = KafkaTimeoutError()
        down = api.call("POST", "/v1/events", json=batch)
        assert down.status_code == 503 and down.headers["Retry-After"], down.text
        problem = down.json()
        assert "none of the 3 events" in problem["detail"] and "Retry the same request" in problem["detail"]
        assert problem["acknowledged"] == [] and problem["unacknowledged"] == [0, 1, 2]

        api.store.refuse = MessageSizeTooLargeError()
        refused = api.call("POST", "/v1/events/measure", json=batch[0]["event"])
        assert refused.status_code == 413 and "will fail again" in refused.json()["detail"], refused.text

        api.store.refuse = None
        done = api.call("POST", "/v1/events", json=batch)
        assert done.status_code == 202 and [e["event_id"] for e in done.json()["events"]] == ["m-0", "m-1", "m-2"]
        assert {w.topic for w in api.store.written} == {api.store.topics.measures}
