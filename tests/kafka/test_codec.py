import json

import pytest

from schemas.deadletter import DeadLetterReason
from schemas.events import SegmentChange
from streams.kafka.codec import Decoder, Rejected
from tests.support import builders as b

decoder: Decoder[SegmentChange] = Decoder(SegmentChange, max_bytes=1024)


def reason(raw):
    result = decoder.decode(raw)
    assert isinstance(result, Rejected), result
    return result.reason, result.error


def test_good_event_decodes():
    event = decoder.decode(json.dumps(b.segment("s", 5, 0)).encode())
    assert isinstance(event, SegmentChange) and event.member_count == 5


def test_rejections_name_their_reason():
    assert reason(b"")[0] is DeadLetterReason.EMPTY
    assert reason(None)[0] is DeadLetterReason.EMPTY
    assert reason(b"{not json")[0] is DeadLetterReason.NOT_JSON
    assert reason(b'{"member_count": NaN}')[0] is DeadLetterReason.NOT_JSON
    assert reason(b"\xff\xfe{}")[0] is DeadLetterReason.NOT_UTF8
    assert reason(b" " * 1025)[0] is DeadLetterReason.OVERSIZED
    why, error = reason(json.dumps({**b.segment("s", 5, 0), "member_count": -1}).encode())
    assert why is DeadLetterReason.SCHEMA and "member_count" in error


def test_schema_error_lists_every_bad_field():
    _, error = reason(b'{"event_id": "e"}')
    for field in ("event_time", "segment_id", "segment_name", "member_count"):
        assert field in error


def framed(schema_id: int, payload: bytes) -> bytes:
    """Confluent's Schema Registry wire format: magic byte 0, the schema id (4 bytes, big-endian), the payload."""
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def test_a_schema_registry_frame_decodes_like_plain_json():
    plain = json.dumps(b.segment("s", 5, 0)).encode()
    assert decoder.decode(framed(7, plain)) == decoder.decode(plain)
    assert decoder.decode(b"\n\t " + plain) == decoder.decode(plain)  # leading JSON whitespace is not a frame


def test_a_frame_that_cannot_be_read_names_the_framing():
    why, error = reason(b"\x01" + b"\x00\x00\x00\x07" + b"{}")
    assert why is DeadLetterReason.FRAMING and "magic byte 0x01" in error and "Schema Registry" in error
    why, error = reason(b"\x00\x00\x00\x00\x07")
    assert why is DeadLetterReason.FRAMING and "no payload" in error
    why, error = reason(framed(42, b"Obj\x01 avro"))  # e.g. Avro behind the frame, not JSON
    assert why is DeadLetterReason.NOT_JSON and "schema id 42" in error
    why, error = reason(framed(42, json.dumps({**b.segment("s", 5, 0), "member_count": -1}).encode()))
    assert why is DeadLetterReason.SCHEMA and "member_count" in error


@pytest.mark.subprocess
def test_what_confluents_json_serializer_writes_is_read_as_the_same_event(registry):
    """The bytes of confluent-kafka's own JSONSerializer (what a Java or Python producer with a Schema Registry
    sends), with our published schema registered in a real registry."""
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.json_schema import JSONSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from schemas.export import render

    client = SchemaRegistryClient({"url": registry.url})
    schema = Schema(render()["segment-change.schema.json"], "JSON")
    schema_id = client.register_schema("cdp.segment-changes-value", schema)
    serialize = JSONSerializer(
        schema.schema_str, client, conf={"auto.register.schemas": False, "use.latest.version": True}
    )
    event = b.segment("vip", 1_234, 3)
    raw = serialize(event, SerializationContext("cdp.segment-changes", MessageField.VALUE))
    assert raw[0] == 0 and int.from_bytes(raw[1:5], "big") == schema_id  # it is framed
    decoded = decoder.decode(raw)
    assert isinstance(decoded, SegmentChange) and decoded == decoder.decode(json.dumps(event).encode())


def test_a_real_avro_value_in_the_frame_is_dead_lettered_naming_its_schema_id():
    """What the docs promise of an Avro producer's value: the JSON decoder rejects it as not JSON (or not UTF-8),
    naming the frame's schema id."""
    import io

    import fastavro

    from schemas.avro import schema_of

    body = io.BytesIO()
    event = SegmentChange.model_validate(b.segment("vip", 1200, 0))
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema_of(SegmentChange)), event.model_dump())
    why, error = reason(framed(9, body.getvalue()))
    assert why in (DeadLetterReason.NOT_JSON, DeadLetterReason.NOT_UTF8) and "schema id 9" in error


def test_with_its_avro_writer_schema_a_frame_decodes_to_the_model_or_says_why_not():
    import io

    import fastavro

    from schemas.avro import schema_of
    from streams.kafka.codec import Writer, frame_id

    parsed = fastavro.parse_schema(schema_of(SegmentChange))
    writer = Writer(9, parsed)

    def avro(doc: dict) -> bytes:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, parsed, SegmentChange.model_construct(**doc).model_dump())
        return framed(9, body.getvalue())

    event = b.segment("vip", 1200, 0, event_id="v1", run_id="r1")
    good = avro(SegmentChange.model_validate(event).model_dump())
    assert frame_id(good) == 9 and frame_id(json.dumps(event).encode()) is None
    assert decoder.decode(good, writer) == decoder.decode(json.dumps(event).encode())  # as its JSON
    why, error = reason_with(good[:-3], writer)
    assert why is DeadLetterReason.NOT_AVRO and "schema id 9, Avro" in error
    why, error = reason_with(good + b"\x00\x00", writer)
    assert why is DeadLetterReason.NOT_AVRO and "2 bytes after the record" in error
    negative = avro({**SegmentChange.model_validate(b.segment("vip", 1, 0)).model_dump(), "member_count": -1})
    why, error = reason_with(negative, writer)
    assert why is DeadLetterReason.SCHEMA and "member_count" in error  # the model's own rules, as for JSON
    as_json = framed(9, json.dumps(b.segment("vip", 5, 0)).encode())
    assert decoder.decode(as_json, Writer(9, None)) == decoder.decode(as_json)  # a JSON Schema writer: JSON


def reason_with(raw, writer):
    result = decoder.decode(raw, writer)
    assert isinstance(result, Rejected), result
    return result.reason, result.error
