"""Each trigger end to end: events produced with librdkafka (confluent-kafka),
the worker on the real broker, trigger events read back from the actions topic."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from schemas.triggers import TriggerEvent, TriggerType
from tests.support import builders as b
from tests.support.metrics import metrics_text, wait_for_metric

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def triggers(kafka, worker, n: int, *, idle: float = 3.0, timeout: float = 40.0) -> list[TriggerEvent]:
    """Wait for n trigger events, then a quiet spell to catch any extra one."""
    got = kafka.read(worker.topics.actions, until=n, timeout=timeout)
    assert len(got) >= n, f"expected {n} triggers, got {len(got)}:\n{worker.log()[-3000:]}"
    rest = kafka.read(worker.topics.actions, idle=idle, timeout=timeout)
    return [TriggerEvent.model_validate_json(m.value()) for m in rest]


def test_datasource_failed_fires_only_for_final_failures(kafka, worker):
    t = worker.topics
    kafka.produce_all(
        t.datasources,
        [
            ("crm", b.datasource("crm", "started", 0)),
            ("crm", b.datasource("crm", "failed", 10, will_retry=True)),
            ("crm", b.datasource("crm", "failed", 20, will_retry=False)),
        ],
    )
    (event,) = triggers(kafka, worker, 1)
    assert event.type is TriggerType.DATA_SOURCE_REFRESH_FAILED
    assert event.subject == "data-source/crm"
    data = event.payload()
    assert data.retried_failures == 1 and data.error_code == "E_AUTH" and data.duration_seconds == 20


def test_datasource_succeeded(kafka, worker):
    t = worker.topics
    kafka.produce_all(
        t.datasources,
        [
            ("erp", b.datasource("erp", "started", 0, run="n1")),
            ("erp", b.datasource("erp", "succeeded", 42, run="n1", row_count=10)),
        ],
    )
    (event,) = triggers(kafka, worker, 1)
    assert event.type is TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED
    assert event.payload().row_count == 10 and event.payload().duration_seconds == 42


def test_measure_threshold_crossed_with_recovery(kafka, worker):
    t = worker.topics
    kafka.produce_all(t.subscriptions, [("rev", b.subscription("rev", "measure", "revenue", 1000.5, recovery=900))])
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")  # known before the events
    values = [800, 1000.5, 950, 1200, 850, 1001]  # fires at 1000.5 and, after re-arming below 900, at 1001
    kafka.produce_all(t.measures, [("revenue", b.measure("revenue", v, i)) for i, v in enumerate(values)])
    events = triggers(kafka, worker, 2)
    assert [e.type for e in events] == [TriggerType.MEASURE_THRESHOLD_CROSSED] * 2
    assert [(e.payload().previous_value, e.payload().value) for e in events] == [(800, 1000.5), (850, 1001)]
    assert events[0].payload().owner == "owner@example.com"


def test_full_and_unification_refresh_completed(kafka, worker):
    t = worker.topics
    tasks = [
        ("data_source", "crm"),
        ("unification", "map"),
        ("unification", "match"),
        ("unification", "merge"),
        ("segment", "vip"),
        ("measure", "revenue"),
    ]
    docs = [b.run_started("run-1", tasks, 0, trigger="manual")]
    for i, (kind, name) in enumerate(tasks):
        docs.append(b.task("run-1", kind, name, "started", 10 * i + 1))
        docs.append(b.task("run-1", kind, name, "failed" if name == "vip" else "succeeded", 10 * i + 9))
    kafka.produce_all(t.runs, [("run-1", d) for d in docs])
    unification, full = triggers(kafka, worker, 2)
    assert unification.type is TriggerType.UNIFICATION_REFRESH_COMPLETED
    assert unification.payload().succeeded and [s.name for s in unification.payload().steps] == [
        "map",
        "match",
        "merge",
    ]
    assert full.type is TriggerType.FULL_REFRESH_COMPLETED
    assert full.payload().failed_tasks == ["segment:vip"] and not full.payload().succeeded
    assert full.payload().trigger == "manual" and full.payload().duration_seconds == 59


def test_stalled_run_fires_once(kafka, settings, worker_factory):
    from datetime import datetime

    settings = settings.model_copy(
        update={"stall_after_seconds": 2.0, "stall_check_interval_seconds": 0.3, "idle_partition_seconds": 0.5}
    )
    worker = worker_factory(settings).start()
    now = datetime.now(UTC).isoformat()
    start = {**b.run_started("slow", [("segment", "vip"), ("measure", "ltv")], 0), "event_time": now}
    kafka.produce_all(worker.topics.runs, [("slow", start)])
    (event,) = triggers(kafka, worker, 1, idle=3.0)
    assert event.type is TriggerType.REFRESH_RUN_STALLED
    assert event.payload().pending_tasks == ["segment:vip", "measure:ltv"]


def test_stale_and_duplicate_events_are_ignored(kafka, worker):
    t = worker.topics
    kafka.produce_all(t.subscriptions, [("s", b.subscription("s", "segment", "seg", 100))])
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")  # known before the events
    kafka.produce_all(
        t.segments,
        [
            ("seg", b.segment("seg", 10, 10, event_id="a")),
            ("seg", b.segment("seg", 500, 5, event_id="late")),  # older: stale, must not cross
            ("seg", b.segment("seg", 10, 10, event_id="a")),  # duplicate
            ("seg", b.segment("seg", 100, 11, event_id="real")),  # the real crossing
            ("seg", b.segment("seg", 100, 11, event_id="real")),  # duplicate of it: no second trigger
        ],
    )
    (event,) = triggers(kafka, worker, 1)
    assert (event.payload().previous_value, event.payload().value) == (10, 100)
    metrics = metrics_text(worker)
    assert 'reason="stale"' in metrics and 'reason="duplicate"' in metrics


def test_malformed_input_is_dead_lettered_and_good_events_around_it_flow(kafka, worker):
    t = worker.topics
    kafka.produce_all(t.subscriptions, [("s", b.subscription("s", "segment", "seg", 100))])
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")  # known before the events
    kafka.produce(t.segments, "seg", b.segment("seg", 1, 0))
    kafka.produce(t.segments, "seg", b"\x00not json")
    kafka.produce(t.segments, "seg", {**b.segment("seg", -5, 1)})
    kafka.produce(t.segments, "seg", b"x" * 70_000)
    kafka.produce(t.segments, "seg", b.segment("seg", 150, 2))
    kafka.flush()
    (event,) = triggers(kafka, worker, 1)
    assert event.payload().value == 150
    records = kafka.read(t.dead_letter, until=3, timeout=30)
    dead = [json.loads(m.value()) for m in records]
    assert sorted(d["reason"] for d in dead) == ["not_json", "oversized", "schema"]
    # Deterministic ids, also the records' keys: a replay repeats a dead letter only under its id.
    assert [m.key().decode() for m in records] == [d["id"] for d in dead]
    assert all(d["id"] == f"{d['topic']}/{d['partition']}/{d['offset']}" for d in dead)
    schema = next(d for d in dead if d["reason"] == "schema")
    assert "member_count" in schema["error"] and schema["topic"] == t.segments and schema["offset"] == 2
    import base64

    assert json.loads(base64.b64decode(schema["value_base64"]))["member_count"] == -5
    assert worker.running


def test_subscription_added_and_removed_at_runtime(kafka, worker):
    t = worker.topics
    kafka.produce_all(t.segments, [("seg", b.segment("seg", 50, 0))])
    kafka.read(t.actions, idle=2, timeout=5)
    kafka.produce_all(t.subscriptions, [("s", b.subscription("s", "segment", "seg", 100))])
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")
    kafka.produce_all(t.segments, [("seg", b.segment("seg", 120, 1))])
    (event,) = triggers(kafka, worker, 1)
    assert event.payload().previous_value == 50  # baseline: value current when subscribed

    kafka.produce_all(t.subscriptions, [("s", None)])  # tombstone
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 0.0")
    kafka.produce_all(t.segments, [("seg", b.segment("seg", 10, 2)), ("seg", b.segment("seg", 500, 3))])
    assert len(triggers(kafka, worker, 1, idle=3)) == 1  # still only the first


def test_kcat_producer(kafka, worker, tmp_path):
    """A non-Python producer: kcat with Java-compatible murmur2 partitioning."""
    import shutil
    import subprocess

    kcat = shutil.which("kcat")
    assert kcat, "kcat is installed by './dev test' (Debian package kcat)"
    t = worker.topics
    lines = [f"vip|{json.dumps(b.subscription('vip', 'segment', 'vip', 3))}"]
    subprocess.run(
        [kcat, "-b", kafka.bootstrap, "-P", "-t", t.subscriptions, "-K", "|", "-X", "topic.partitioner=murmur2_random"],
        input="\n".join(lines),
        text=True,
        check=True,
    )
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")  # known before the events
    seg_lines = "\n".join(f"vip|{json.dumps(b.segment('vip', n, i))}" for i, n in enumerate([1, 2, 3]))
    subprocess.run(
        [kcat, "-b", kafka.bootstrap, "-P", "-t", t.segments, "-K", "|", "-X", "topic.partitioner=murmur2_random"],
        input=seg_lines,
        text=True,
        check=True,
    )
    (event,) = triggers(kafka, worker, 1)
    assert event.type is TriggerType.SEGMENT_THRESHOLD_CROSSED and event.payload().value == 3


def test_compressed_batches_from_any_producer_are_read(kafka, worker):
    """Java and librdkafka producers often compress; the worker (aiokafka) needs
    the codec libraries to read lz4, snappy and zstd batches at all."""
    from confluent_kafka import Producer

    t = worker.topics
    for codec in ("gzip", "lz4", "snappy", "zstd"):
        producer = Producer(
            {"bootstrap.servers": kafka.bootstrap, "compression.type": codec, "partitioner": "murmur2_random"}
        )
        producer.produce(t.datasources, json.dumps(b.datasource(codec, "failed", 1)).encode(), codec.encode())
        assert producer.flush(30) == 0
    events = triggers(kafka, worker, 4)
    assert sorted(e.subject for e in events) == [f"data-source/{c}" for c in ("gzip", "lz4", "snappy", "zstd")]


def test_schema_registry_framed_input_fires_the_same_triggers_as_plain_json(kafka, worker, registry):
    """A producer using a Schema Registry (confluent-kafka's JSONSerializer with our published schema) beside one
    writing plain JSON: the same events give the same triggers; an unknown framing is dead-lettered as such."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from schemas.export import render

    t = worker.topics
    client = SchemaRegistryClient({"url": registry.url})  # the worker is not told of it: frames are read as JSON
    serializers = {
        topic: JSONSerializer(render()[f"{name}.schema.json"], client)  # registers it, as Java serializers do
        for topic, name in ((t.segments, "segment-change"), (t.datasources, "datasource-change"))
    }

    def framed(topic: str, event: dict) -> bytes:
        return serializers[topic](event, SerializationContext(topic, MessageField.VALUE))

    subs = [(s, b.subscription(s, "segment", s, 100)) for s in ("plain", "framed")]
    kafka.produce_all(t.subscriptions, subs)
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 2.0")
    for segment, encode in (("plain", lambda _topic, event: event), ("framed", framed)):
        kafka.produce(t.segments, segment, encode(t.segments, b.segment(segment, 90, 1)))
        kafka.produce(t.segments, segment, encode(t.segments, b.segment(segment, 120, 2)))
        kafka.produce(t.datasources, segment, encode(t.datasources, b.datasource(segment, "failed", 3)))
    kafka.produce(t.segments, "framed", b"\x02\x00\x00\x00\x01" + json.dumps(b.segment("framed", 500, 4)).encode())
    kafka.flush()

    by_subject: dict[str, list[TriggerEvent]] = {}
    for event in triggers(kafka, worker, 4):
        by_subject.setdefault(event.subject.rsplit("/", 1)[1], []).append(event)
    plain, framed_ = by_subject["plain"], by_subject["framed"]
    assert (
        sorted(e.type for e in plain)
        == sorted(e.type for e in framed_)
        == sorted([TriggerType.SEGMENT_THRESHOLD_CROSSED, TriggerType.DATA_SOURCE_REFRESH_FAILED])
    )
    for p, f in zip(sorted(plain, key=lambda e: e.type), sorted(framed_, key=lambda e: e.type), strict=True):
        renamed = json.dumps(p.payload().model_dump(mode="json")).replace("plain", "framed")
        assert json.loads(renamed) == f.payload().model_dump(mode="json")
    [dead] = [json.loads(m.value()) for m in kafka.read(t.dead_letter, until=1, timeout=30)]
    assert dead["reason"] == "framing" and "magic byte 0x02" in dead["error"]
