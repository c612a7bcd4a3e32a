"""The attempt loop over a scripted sender: pure logic, no network."""

import asyncio
import random

from schemas.deadletter import DeliveryFailure
from schemas.routes import RetryPolicy
from streams.delivery.deliver import deliver
from streams.delivery.retry import Attempt, Outcome


class Scripted:
    def __init__(self, answers, **retry):
        self.retry = RetryPolicy.model_validate(retry)
        self.answers = list(answers)
        self.calls = 0

    async def attempt(self, event, raw):
        self.calls += 1
        return self.answers.pop(0)


OK = Attempt(Outcome.DELIVERED, "ok", "HTTP 202")
E500 = Attempt(Outcome.RETRY, "http_5xx", "HTTP 500")
E429 = Attempt(Outcome.RETRY, "http_429", "HTTP 429", retry_after=2.5)
E400 = Attempt(Outcome.REJECTED, "http_4xx", "HTTP 400")


def run(sender):
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    results = []
    delivery = asyncio.run(deliver(sender, {}, b"", on_attempt=results.append, sleep=sleep, rng=random.Random(1)))
    assert [t.next_wait for t in results[:-1]] == waits and results[-1].next_wait is None  # what each said next
    assert [t.number for t in results] == list(range(1, len(results) + 1))
    return delivery, waits, [t.attempt.result for t in results]


def test_retries_until_delivered_waiting_between_attempts():
    delivery, waits, results = run(Scripted([E500, E429, OK], initial_backoff_seconds=1))
    assert delivery.failure is None and delivery.attempts == 3
    assert results == ["http_5xx", "http_429", "ok"]
    assert 0.5 <= waits[0] <= 1.0 and waits[1] == 2.5  # Retry-After replaces the backoff


def test_a_permanent_rejection_is_not_retried():
    delivery, waits, _ = run(Scripted([E400, OK]))
    assert (delivery.failure, delivery.attempts, waits) == (DeliveryFailure.REJECTED, 1, [])


def test_exhausted_after_max_attempts():
    sender = Scripted([E500] * 3, max_attempts=3)
    delivery, waits, _ = run(sender)
    assert (delivery.failure, delivery.attempts, sender.calls, len(waits)) == (DeliveryFailure.EXHAUSTED, 3, 3, 2)
    assert delivery.last.detail == "HTTP 500"


def test_an_attempt_record_says_what_was_tried_and_when_the_next_is_due():
    from datetime import UTC, datetime

    from schemas.triggers import TriggerType
    from streams.delivery.deliver import Tried, attempt_record

    event = {"id": "t-1", "type": TriggerType.SEGMENT_THRESHOLD_CROSSED.value, "subject": "segment/vip"}
    began = datetime(2026, 12, 7, 8, tzinfo=UTC).timestamp()
    record = attempt_record("ops", "webhook", event, Tried(2, E500, began, 0.25, 4.0))
    assert (record.attempt, record.outcome, record.result, record.detail) == (2, "retry", "http_5xx", "HTTP 500")
    assert record.trigger_type == "segment.threshold.crossed" and record.latency_seconds == 0.25
    assert record.next_attempt_at == datetime(2026, 12, 7, 8, 0, 4, 250000, tzinfo=UTC)
    assert attempt_record("ops", "webhook", event, Tried(3, OK, began, 0.1, None)).next_attempt_at is None
