"""Producers that write through a real Schema Registry (Apicurio, from the dev tool), with confluent-kafka's own
AvroSerializer and JSONSerializer, beside producers writing plain JSON: through a real worker the same events fire
the same triggers with equal payloads. An unknown schema id and an Avro body its schema does not read are
dead-lettered, each with its own reason."""

from __future__ import annotations

import json

import pytest

from schemas.avro import schema_of
from schemas.events import SegmentChange
from schemas.export import render
from schemas.triggers import TriggerEvent, TriggerType
from tests.support import builders as b
from tests.support.metrics import metrics_text, wait_for_metric

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_avro_and_json_through_a_registry_fire_what_plain_json_fires(kafka, settings, worker_factory, registry):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    worker = worker_factory(settings.model_copy(update={"schema_registry_url": registry.url})).start()
    t = worker.topics
    client = SchemaRegistryClient({"url": registry.url})
    avro = AvroSerializer(client, json.dumps(schema_of(SegmentChange)))  # registers it, as Java serializers do
    as_json = JSONSerializer(render()["datasource-change.schema.json"], client)

    def avro_framed(event: dict) -> bytes:
        value = SegmentChange.model_validate(event).model_dump()  # times as datetimes: timestamp-micros
        return avro(value, SerializationContext(t.segments, MessageField.VALUE))

    def json_framed(event: dict) -> bytes:
        return as_json(event, SerializationContext(t.datasources, MessageField.VALUE))

    subs = [(s, b.subscription(s, "segment", s, 100)) for s in ("plain", "framed")]
    kafka.produce_all(t.subscriptions, subs)
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 2.0")
    for name, segment, source in (("plain", lambda e: e, lambda e: e), ("framed", avro_framed, json_framed)):
        kafka.produce(t.segments, name, segment(b.segment(name, 90, 1, event_id=f"{name}-1")))
        kafka.produce(t.segments, name, segment(b.segment(name, 120, 2, event_id=f"{name}-2")))
        kafka.produce(t.datasources, name, source(b.datasource(name, "failed", 3, event_id=f"{name}-3")))
    good = avro_framed(b.segment("framed", 130, 4, event_id="framed-4"))
    kafka.produce(t.segments, "framed", b"\x00\x00\x01\x86\x9f" + good[5:])  # schema id 99999: not registered
    kafka.produce(t.segments, "framed", good[:5] + b"\x02\xff\xff")  # its schema cannot read this body
    kafka.flush()

    got = kafka.read(t.actions, until=4, timeout=60)
    assert len(got) >= 4, worker.log()[-3000:]
    events = [TriggerEvent.model_validate_json(m.value()) for m in kafka.read(t.actions, idle=3.0, timeout=60)]
    by_name: dict[str, list[TriggerEvent]] = {}
    for event in events:
        by_name.setdefault(event.subject.rsplit("/", 1)[1], []).append(event)
    plain, framed = (sorted(by_name[n], key=lambda e: e.type) for n in ("plain", "framed"))
    assert (
        [e.type for e in plain]
        == [e.type for e in framed]
        == sorted([TriggerType.SEGMENT_THRESHOLD_CROSSED, TriggerType.DATA_SOURCE_REFRESH_FAILED])
    )
    for p, f in zip(plain, framed, strict=True):
        renamed = json.dumps(p.payload().model_dump(mode="json")).replace("plain", "framed")
        assert json.loads(renamed) == f.payload().model_dump(mode="json")
    dead = sorted(
        (json.loads(m.value()) for m in kafka.read(t.dead_letter, until=2, timeout=30)), key=lambda d: d["offset"]
    )
    assert [d["reason"] for d in dead] == ["unknown_schema", "not_avro"], dead
    assert "schema id 99999" in dead[0]["error"] and t.segments in dead[0]["error"]
    assert "Avro" in dead[1]["error"]
    said = metrics_text(worker)  # each id asked once (the corrupt body's schema was held already)
    assert 'cdp_triggers_schema_fetches_total{outcome="fetched"} 2.0' in said
    assert 'cdp_triggers_schema_fetches_total{outcome="unknown"} 1.0' in said
    worker.stop()


def test_a_registry_that_stops_answering_stalls_the_worker_and_loses_nothing(
    kafka, settings, worker_factory, registry, tmp_path
):
    """The registry frozen (SIGSTOP: connections open, nothing answers) while the worker needs a schema it has not
    fetched: it says why, dead-letters nothing, and exits with code 3 within its bound. With the registry back and
    the worker restarted, each trigger fires once."""
    import os
    import signal
    import subprocess
    import time

    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from schemas.events import MeasureChange
    from streams.kafka.exits import EXIT_STALLED

    bound = 10.0
    s = settings.model_copy(
        update={
            "schema_registry_url": registry.url,
            "schema_registry_timeout_seconds": 2.0,
            "progress_timeout_seconds": bound,
        }
    )
    worker = worker_factory(s).start()
    t = worker.topics
    client = SchemaRegistryClient({"url": registry.url})
    serializers = {
        topic: AvroSerializer(client, json.dumps(schema_of(model)))
        for topic, model in ((t.segments, SegmentChange), (t.measures, MeasureChange))
    }

    def avro(topic: str, model, event: dict) -> bytes:
        return serializers[topic](
            model.model_validate(event).model_dump(), SerializationContext(topic, MessageField.VALUE)
        )

    kafka.produce_all(
        t.subscriptions,
        [("vip", b.subscription("vip", "segment", "vip", 100)), ("rev", b.subscription("rev", "measure", "rev", 10))],
    )
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 2.0")
    for i, count in enumerate((90, 120)):
        kafka.produce(t.segments, "vip", avro(t.segments, SegmentChange, b.segment("vip", count, i, event_id=f"s{i}")))
    kafka.flush()
    assert len(kafka.read(t.actions, until=1, timeout=60)) == 1, worker.log()[-3000:]
    # serialized while the registry answers (the serializer registers the measure schema); the worker has not
    # fetched that schema yet
    measures = [
        avro(t.measures, MeasureChange, b.measure("rev", v, 10 + i, event_id=f"m{i}")) for i, v in enumerate((5, 50))
    ]
    registry_pid = registry.pid()
    assert registry_pid is not None
    os.kill(registry_pid, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        for value in measures:
            kafka.produce(t.measures, "rev", value)
        kafka.flush()
        assert worker.proc is not None
        try:
            code = worker.proc.wait(bound + 40)
        except subprocess.TimeoutExpired:
            code = None
        waited = time.monotonic() - frozen
    finally:
        os.kill(registry_pid, signal.SIGCONT)
    said = worker.log()
    assert code == EXIT_STALLED, f"the worker did not exit on its own (code {code}):\n{said[-3000:]}"
    assert "did not answer" in said and "no event is dead-lettered for it meanwhile" in said, said[-3000:]
    assert "schema registry" in said and waited < bound + 30

    worker.start()  # its supervisor restarts it; the registry answers again
    assert len(kafka.read(t.actions, until=2, timeout=60)) == 2, worker.log()[-3000:]
    events = kafka.read_json(t.actions, idle=3.0, timeout=30)
    assert sorted(e["subject"] for e in events) == ["measure/rev", "segment/vip"], events  # each once
    assert kafka.read(t.dead_letter, idle=2.0, timeout=10) == []
    worker.stop()


def test_publish_and_the_producer_library_write_avro_and_framed_json_the_worker_reads(
    kafka, settings, worker_factory, registry
):
    """'publish --format avro|json-sr' and EventProducer(format=...) register the published schemas and frame
    each event; a worker with the registry fires every trigger, the refresh-run union included, and rejects none."""
    from schemas.events import MeasureChange, RefreshRunStarted, TaskProgress
    from streams.client.producer import SyncEventProducer
    from tests.support.cli import cli

    s = settings.model_copy(update={"schema_registry_url": registry.url})
    worker = worker_factory(s).start()
    t = worker.topics
    kafka.produce_all(
        t.subscriptions,
        [("cli", b.subscription("cli", "segment", "cli", 100)), ("lib", b.subscription("lib", "measure", "lib", 10))],
    )
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 2.0")
    lines = "\n".join(json.dumps(b.segment("cli", n, i, event_id=f"c{i}")) for i, n in enumerate((90, 120)))
    published = cli(s, "publish", "segment", "-", "--format", "avro", stdin=lines)
    assert published.returncode == 0, published.stderr
    failed = json.dumps(b.datasource("cli", "failed", 3, event_id="c3"))
    published = cli(s, "publish", "datasource", failed, "--format", "json-sr")
    assert published.returncode == 0, published.stderr
    with SyncEventProducer(s, format="avro") as producer:
        for i, value in enumerate((5.0, 50.0)):
            producer.publish(MeasureChange.model_validate(b.measure("lib", value, 4 + i, event_id=f"l{i}")))
        producer.publish(RefreshRunStarted.model_validate(b.run_started("r-lib", [("segment", "cli")], 6)))
        producer.publish(TaskProgress.model_validate(b.task("r-lib", "segment", "cli", "succeeded", 7)))

    assert len(kafka.read(t.actions, until=4, timeout=60)) >= 4, worker.log()[-3000:]
    fired = sorted((TriggerType(e["type"]).short, e["subject"]) for e in kafka.read_json(t.actions, idle=3, timeout=30))
    assert fired == [
        ("datasource.refresh.failed", "data-source/cli"),
        ("measure.threshold.crossed", "measure/lib"),
        ("refresh.full.completed", "refresh-run/r-lib"),
        ("segment.threshold.crossed", "segment/cli"),
    ], fired
    assert kafka.read(t.dead_letter, idle=2.0, timeout=10) == []
    no_url = cli(settings, "publish", "segment", lines.splitlines()[0], "--format", "avro")
    assert no_url.returncode == 2 and "CDP_SCHEMA_REGISTRY_URL" in no_url.stderr
    worker.stop()
