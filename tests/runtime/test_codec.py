import json

from schemas.deadletter import DeadLetterReason
from schemas.events import SegmentChange
from streams.runtime.codec import Decoder, Rejected
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
