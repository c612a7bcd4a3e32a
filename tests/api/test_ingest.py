"""Change events over HTTP (``POST /v1/events/{kind}``, ``POST /v1/events``) on real parts: the API process, a
worker and the broker. A 202 means Kafka has the events; a retried batch fires nothing twice; an invalid batch
writes nothing and names each bad item; a 503 while the broker is down writes nothing."""

from __future__ import annotations

import orjson
import pytest

from schemas.triggers import TriggerEvent, TriggerType
from streams.topics import Topics
from tests.support import builders as b
from tests.support.api import api_settings, own_api, start_api
from tests.support.kafka import murmur2_partition
from tests.support.metrics import wait_for_metric

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]
NDJSON = {"Content-Type": "application/x-ndjson"}


def ndjson(items: list[dict]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def test_events_posted_over_http_fire_their_triggers_once_even_when_the_batch_is_retried(
    settings, kafka, worker, tmp_path
):
    s = api_settings(settings)
    process, api = start_api(s, tmp_path / "api.log", key_scope="publish")
    try:
        t = worker.topics
        kafka.produce_all(t.subscriptions, [("vip-100", b.subscription("vip-100", "segment", "vip", 100))])
        wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")

        one = api.call("POST", "/v1/events/datasource", json=b.datasource("crm", "failed", 10, event_id="ds-1"))
        assert one.status_code == 202, one.text
        [written] = one.json()["events"]
        assert written["kind"] == "datasource" and written["event_id"] == "ds-1" and written["topic"] == t.datasources

        batch = [
            {"kind": "segment", "event": b.segment("vip", 90, 20, event_id="seg-1")},
            {"kind": "segment", "event": b.segment("vip", 120, 30, event_id="seg-2")},
            {"kind": "run", "event": b.run_started("run-1", [("segment", "vip")], 40, event_id="run-1a")},
            {"kind": "run", "event": b.task("run-1", "segment", "vip", "succeeded", 50, event_id="run-1b")},
        ]
        first = api.call("POST", "/v1/events", data=ndjson(batch), headers=NDJSON)
        assert first.status_code == 202, first.text
        assert first.json()["accepted"] == 4
        # the client timed out and sends the same batch again, this time as a JSON array
        again = api.call("POST", "/v1/events", json=batch)
        assert again.status_code == 202, again.text

        # keyed by entity id, partitioned as Java clients and 'cdp-triggers publish' do
        for record in kafka.read(t.segments, until=4, timeout=10):
            assert record.key() == b"vip"
            assert record.partition() == murmur2_partition(b"vip", s.partitions)

        kafka.read(t.actions, until=3, timeout=40)
        fired = [TriggerEvent.model_validate_json(m.value()) for m in kafka.read(t.actions, idle=4, timeout=40)]
        assert sorted(e.type for e in fired) == sorted(
            [
                TriggerType.DATA_SOURCE_REFRESH_FAILED,
                TriggerType.SEGMENT_THRESHOLD_CROSSED,
                TriggerType.FULL_REFRESH_COMPLETED,
            ]
        ), [e.type for e in fired]
        metrics = api.call("GET", "/metrics").text
        assert 'cdp_triggers_api_events_published_total{kind="segment"} 4.0' in metrics
    finally:
        process.stop()


def test_while_the_broker_is_down_a_batch_gets_503_and_nothing_is_written(own_broker, kafka, tmp_path):
    from tests.support.kafka import Kafka

    settings, process, api = own_api(
        own_broker.bootstrap, tmp_path, "publish", kafka_timeout_seconds=3, api_keys_max_age_seconds=300
    )
    mine = Kafka(own_broker.bootstrap)
    batch = [{"kind": "measure", "event": b.measure("revenue", 10.0 * i, i, event_id=f"m-{i}")} for i in range(3)]
    try:
        warm = api.call("POST", "/v1/events/measure", json=b.measure("cost", 1.0, 0, event_id="warm"))
        assert warm.status_code == 202, warm.text  # the API knows the topics' partitions and leaders
        own_broker.stop()
        down = api.call("POST", "/v1/events", json=batch)
        assert down.status_code == 503, down.text
        problem = down.json()
        assert "none of the 3 events" in problem["detail"], problem
        assert "will not send them later" in problem["detail"], problem
        assert problem["acknowledged"] == [] and problem["unacknowledged"] == [0, 1, 2]
        assert down.headers["Retry-After"]
        own_broker.start()

        def event_ids(**wait: float) -> list[str]:
            return [orjson.loads(m.value())["event_id"] for m in mine.read(Topics(settings).measures, **wait)]

        assert event_ids(idle=3, timeout=15) == ["warm"]  # the batch was dropped, not sent once the broker was back
        retried = api.call("POST", "/v1/events", json=batch)  # the producer is renewed and the batch goes through
        assert retried.status_code == 202, retried.text
        assert sorted(event_ids(idle=3, timeout=20)) == ["m-0", "m-1", "m-2", "warm"]
    finally:
        process.stop()
