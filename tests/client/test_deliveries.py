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


def test_a_receivers_health_counts_deliveries_retries_and_what_was_given_up():
    from datetime import UTC, datetime

    from schemas.deadletter import DeliveryAttempt
    from streams.client.deliveries import receiver_health

    now = datetime(2026, 12, 7, 8, tzinfo=UTC)

    def tried(receiver, outcome, next_at):
        return DeliveryAttempt(
            trigger_id="t", trigger_type="segment.threshold.crossed", subject="s", receiver=receiver,
            receiver_type="webhook", attempt=1, at=now, latency_seconds=0.1, outcome=outcome, result="x",
            detail="", next_attempt_at=next_at,
        )  # fmt: skip

    a = [tried("a", "retry", now), tried("a", "retry", now), tried("a", "delivered", None)]
    found = receiver_health([*a, tried("b", "rejected", None), tried("b", "retry", None)])
    assert found == {
        "a": {"delivered": 1, "retried": 2, "given_up": 0},
        "b": {"delivered": 0, "retried": 0, "given_up": 2},
    }


def test_a_redelivery_chooses_by_trigger_type_named_by_its_short_name():
    import pytest

    from schemas.triggers import TriggerType
    from streams.client.deliveries import Choice, choose

    crossed, failed = _given_up(1), _given_up(2)
    failed = failed.model_copy(update={"event": {**failed.event, "type": TriggerType.DATA_SOURCE_REFRESH_FAILED.value}})
    kind = TriggerType.from_short("datasource.refresh.failed")
    assert choose([crossed, failed], Choice(trigger_type=kind)) == [failed]
    with pytest.raises(ValueError, match="'nope' is not a trigger type: use one of datasource.refresh.failed"):
        TriggerType.from_short("nope")


def test_where_a_delivery_stands_is_its_latest_attempt_per_receiver_in_words():
    from datetime import UTC, datetime, timedelta

    from schemas.deadletter import DeliveryAttempt
    from streams.client.deliveries import standing

    t0 = datetime(2026, 12, 7, 8, tzinfo=UTC)

    def tried(receiver, n, outcome, retry):
        return DeliveryAttempt(
            trigger_id="t", trigger_type="segment.threshold.crossed", subject="s", receiver=receiver,
            receiver_type="teams", attempt=n, at=t0 + timedelta(seconds=n), latency_seconds=0.1, outcome=outcome,
            result="x", detail="HTTP 503: a body", next_attempt_at=t0 + timedelta(minutes=n) if retry else None,
        )  # fmt: skip

    found = standing(
        [
            tried("teams", 2, "delivered", False),
            tried("teams", 1, "retry", True),  # read after, older: does not count
            tried("hook", 1, "retry", True),
            tried("mail", 1, "retry", True),
            tried("mail", 2, "retry", False),
        ]
    )
    assert found == {"hook": "retrying (attempt 1 failed)", "mail": "given up", "teams": "delivered"}
    assert "503" not in str(found)  # the receivers' answers are an operator's
