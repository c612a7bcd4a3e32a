"""When to try again and how long to wait (pure).

Retry on 5xx, 429, 408, timeouts, connection errors and transient SMTP
replies (4xx); give up at once on any other 4xx and on permanent SMTP replies
(5xx), which a retry cannot fix. Waits grow exponentially with jitter in
[half, full] of the step, so concurrent dispatchers spread out while the
bounds stay predictable; a receiver's Retry-After replaces the computed wait.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from schemas.deadletter import AttemptResult
from schemas.routes import RetryPolicy


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    result: AttemptResult  # a bounded metric label
    detail: str  # for logs and the dead-letter record; never holds a secret
    retry_after: float | None = None


def from_http(status: int, headers: Mapping[str, str], body_excerpt: str = "", now: datetime | None = None) -> Attempt:
    detail = f"HTTP {status}" + (f": {body_excerpt}" if body_excerpt else "")
    if 200 <= status < 300:
        return Attempt(Outcome.DELIVERED, "ok", detail)
    if status == 429 or status == 408:
        wait = retry_after_seconds(headers.get("Retry-After"), now)
        return Attempt(Outcome.RETRY, "http_429" if status == 429 else "http_4xx", detail, wait)
    if status >= 500:
        return Attempt(Outcome.RETRY, "http_5xx", detail, retry_after_seconds(headers.get("Retry-After"), now))
    return Attempt(Outcome.REJECTED, "http_4xx" if status >= 400 else "http_other", detail)


def from_smtp(code: int, message: str) -> Attempt:
    detail = f"SMTP {code}: {message}"
    if 400 <= code < 500:
        return Attempt(Outcome.RETRY, "smtp_4xx", detail)
    return Attempt(Outcome.REJECTED, "smtp_5xx", detail)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def wait_before(attempt_number: int, policy: RetryPolicy, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before attempt ``attempt_number`` (2 = the first retry)."""
    if retry_after is not None:
        return min(retry_after, policy.max_backoff_seconds)
    step = min(policy.initial_backoff_seconds * 2 ** (attempt_number - 2), policy.max_backoff_seconds)
    return step * rng.uniform(0.5, 1.0)
