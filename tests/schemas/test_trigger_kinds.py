"""Every trigger type is declared once, completely."""

import pytest

from schemas.triggers import KINDS, TriggerEvent, TriggerType, dataschema_for


def test_every_trigger_type_has_a_declaration():
    assert set(KINDS) == set(TriggerType)
    assert all(KINDS[t].type is t for t in TriggerType)


@pytest.mark.parametrize("trigger_type", list(TriggerType), ids=lambda t: t.short)
def test_each_declaration_is_complete_and_its_example_valid(trigger_type):
    kind = KINDS[trigger_type]
    payload = kind.payload.model_validate(kind.example)
    summary = kind.describe(payload.model_dump(mode="json"))
    assert summary.title and summary.line and summary.facts
    assert summary.tone in ("good", "warning", "attention")
    assert kind.style
    event = TriggerEvent(
        id="x",
        source="/t",
        type=trigger_type,
        subject="s/1",
        time="2026-11-24T09:00:00Z",
        dataschema=dataschema_for(trigger_type),
        data=kind.example,
    )
    assert event.payload() == payload


def test_six_are_the_products_triggers_and_stalled_is_ours():
    ours = {t for t, k in KINDS.items() if not k.in_product}
    assert ours == {TriggerType.REFRESH_RUN_STALLED} and len(KINDS) - len(ours) == 6
