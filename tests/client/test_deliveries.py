"""Redelivery plans (pure): only what was not delivered since, keyed like its trigger; outcomes after asking."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.deadletter import DeliveryDeadLetter, DeliveryFailure
from tests.support import builders as b

AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _given_up(n: int, receiver: str = "hook") -> DeliveryDeadLetter:
    event = b.trigger_event("crossed", trigger_id=f"00000000-0000-5000-8000-{n:012d}")
    return DeliveryDeadLetter(
        id=f"{event['id']}|{receiver}",
        reason=DeliveryFailure.EXHAUSTED,
        receiver=receiver,
        receiver_type="hook",
        attempts=3,
        error="HTTP 503",
        trigger_id=event["id"],
        event=event,
        dead_lettered_at=datetime(2026, 12, 3, 2, n, tzinfo=UTC),
        dispatcher="cdp-triggers-dispatcher",
    )


def test_a_redelivery_plan_asks_only_for_what_was_not_delivered_since_keyed_like_its_trigger():
    from streams.client import deliveries

    letters = [_given_up(1), _given_up(2), _given_up(3, "teams")]
    chosen = deliveries.select(letters, deliveries.Choice(receiver="hook"))
    assert [d.id for d in chosen] == [letters[0].id, letters[1].id]
    plan = deliveries.plan(chosen, {letters[1].id}, "ops", AT)
    assert plan.delivered == [letters[1]]
    [(key, request)] = plan.requests
    assert key == letters[0].event["subject"].encode()
    assert request.event == letters[0].event and request.receiver == "hook" and request.requested_by == "ops"


def test_a_redeliverys_outcome_is_delivered_failed_again_or_pending():
    from streams.client.deliveries import outcome

    letter = _given_up(1)
    assert outcome(letter.id, {letter.id}, None, AT) == "delivered"
    newer = letter.model_copy(update={"dead_lettered_at": datetime(2026, 12, 3, 9, 0, tzinfo=UTC), "error": "HTTP 410"})
    assert outcome(letter.id, set(), newer, AT) == "failed again: exhausted: HTTP 410"
    assert outcome(letter.id, set(), letter, AT) == "pending"


def test_a_redelivery_must_choose_and_every_id_it_names_must_exist():
    import pytest

    from streams.client.deliveries import Choice, ChoiceError, choose

    letters = [_given_up(1), _given_up(2, "teams")]
    with pytest.raises(ChoiceError, match="choose what to redeliver"):
        choose(letters, Choice())
    with pytest.raises(ChoiceError, match="no such given-up delivery: nope"):
        choose(letters, Choice(ids=(letters[0].id, "nope")))
    assert choose(letters, Choice(receiver="teams")) == [letters[1]]
