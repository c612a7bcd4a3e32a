"""The trigger's CloudEvent written in one pass (``encode_trigger``) is byte for byte the envelope model's JSON,
whatever the payload holds: consumers, dedup by id and the published schema see no difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from schemas.triggers import KINDS, ThresholdCrossed, TriggerType
from streams.detection.trigger import Trigger
from streams.kafka.codec import encode, encode_trigger

SOURCE = "/cdp-triggers/worker"


def through_the_model(trigger: Trigger, source: str) -> bytes:
    return encode(trigger.envelope(source))


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC) | offsets)
numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53).map(float)


@given(
    subject=st.text(),
    trigger_id=st.text(),
    source=st.text(),
    time=moments,
    crossed_at=moments,
    values=st.tuples(numbers, numbers, numbers, numbers),
    texts=st.tuples(st.text(), st.text(), st.text(), st.text()),
    run_id=st.none() | st.text(),
    labels=st.dictionaries(st.text(), st.text(), max_size=4),
)
def test_a_crossing_encodes_as_its_envelope_model_does(
    subject, trigger_id, source, time, crossed_at, values, texts, run_id, labels
):
    payload = ThresholdCrossed(
        subscription_id=texts[0],
        entity_kind="measure",
        entity_id=texts[1],
        entity_name=texts[2],
        threshold=values[0],
        recovery_threshold=values[1],
        previous_value=values[2],
        value=values[3],
        crossed_at=crossed_at,
        run_id=run_id,
        owner=texts[3],
        labels=labels,
    )
    trigger = Trigger(TriggerType.MEASURE_THRESHOLD_CROSSED, trigger_id, subject, time, payload)
    assert encode_trigger(trigger, source) == through_the_model(trigger, source)


def test_every_trigger_type_encodes_as_its_envelope_model_does():
    for trigger_type, kind in KINDS.items():
        payload = kind.payload.model_validate(kind.example)
        trigger = Trigger(trigger_type, "id-1", "segment/a", datetime(2026, 12, 4, 2, 0, 0, 5, tzinfo=UTC), payload)
        assert encode_trigger(trigger, SOURCE) == through_the_model(trigger, SOURCE), trigger_type
