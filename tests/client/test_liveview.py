import pytest

from schemas.triggers import KINDS, TriggerEvent, TriggerType
from streams.client import liveview
from tests.support.builders import trigger_event


@pytest.mark.parametrize("trigger_type", list(TriggerType), ids=lambda t: t.short)
def test_every_trigger_type_is_one_coloured_line(trigger_type):
    event = TriggerEvent.model_validate(trigger_event(trigger_type))
    text = liveview.line(event)
    assert "\n" not in text.plain
    assert trigger_type.short in text.plain and KINDS[trigger_type].describe(event.data).line in text.plain
    assert any(span.style == KINDS[trigger_type].style for span in text.spans)


def test_threshold_line_shows_values_threshold_and_subscription():
    event = TriggerEvent.model_validate(trigger_event("crossed"))
    assert liveview.detail(event) == "990 → 1,012 (threshold 1,000, vip-1000)"
