"""A change event produced by another client goes through the Faust worker on
the real broker and comes out as a trigger event."""

from __future__ import annotations

import pytest

from schemas.triggers import TriggerEvent, TriggerType
from tests.support import builders as b

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_segment_crossing_round_trip(kafka, worker):
    t = worker.topics
    kafka.produce_all(t.subscriptions, [("vip-500", b.subscription("vip-500", "segment", "vip", 500))])
    kafka.produce_all(t.segments, [("vip", b.segment("vip", n, i)) for i, n in enumerate([100, 499, 500, 650])])

    records = kafka.read(t.actions, until=1, timeout=30)
    assert len(records) == 1
    event = TriggerEvent.model_validate_json(records[0].value())
    assert event.type is TriggerType.SEGMENT_THRESHOLD_CROSSED
    assert event.subject == "segment/vip"
    assert records[0].key() == b"segment/vip"
    payload = event.payload()
    assert (payload.previous_value, payload.value, payload.threshold) == (499, 500, 500)
    # Nothing else follows: 650 is above but the subscription is disarmed.
    assert len(kafka.read(t.actions, idle=3, timeout=15)) == 1
