import random
from datetime import UTC, datetime

import pytest

from schemas.routes import RetryPolicy
from streams.delivery.retry import Outcome, from_http, from_smtp, retry_after_seconds, wait_before


@pytest.mark.parametrize(
    "status, outcome, result",
    [
        (200, Outcome.DELIVERED, "ok"),
        (202, Outcome.DELIVERED, "ok"),
        (500, Outcome.RETRY, "http_5xx"),
        (503, Outcome.RETRY, "http_5xx"),
        (429, Outcome.RETRY, "http_429"),
        (408, Outcome.RETRY, "http_4xx"),
        (400, Outcome.REJECTED, "http_4xx"),
        (401, Outcome.REJECTED, "http_4xx"),
        (404, Outcome.REJECTED, "http_4xx"),
        (302, Outcome.REJECTED, "http_other"),
    ],
)
def test_http_status_classification(status, outcome, result):
    attempt = from_http(status, {})
    assert (attempt.outcome, attempt.result) == (outcome, result)


def test_smtp_transient_retries_permanent_does_not():
    assert from_smtp(451, "try later").outcome is Outcome.RETRY
    assert from_smtp(550, "no mailbox").outcome is Outcome.REJECTED


def test_retry_after_seconds_and_http_date():
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Tue, 24 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Tue, 24 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert from_http(429, {"Retry-After": "3"}).retry_after == 3.0


def test_backoff_doubles_within_half_and_full_step_and_is_capped():
    policy = RetryPolicy(initial_backoff_seconds=1, max_backoff_seconds=5)
    rng = random.Random(7)
    for attempt, step in [(2, 1), (3, 2), (4, 4), (5, 5), (9, 5)]:
        waits = [wait_before(attempt, policy, None, rng) for _ in range(200)]
        assert step / 2 <= min(waits) and max(waits) <= step
        assert max(waits) - min(waits) > step / 4  # jittered, not constant


def test_retry_after_replaces_backoff_up_to_the_cap():
    policy = RetryPolicy(initial_backoff_seconds=1, max_backoff_seconds=5)
    assert wait_before(2, policy, 3.0, random.Random()) == 3.0
    assert wait_before(2, policy, 600.0, random.Random()) == 5.0
