"""One trigger event to one receiver: attempts, waits, and the verdict."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.deadletter import DeliveryAttempt, DeliveryFailure
from schemas.routes import RetryPolicy
from schemas.triggers import TriggerType

from .receivers import Sender
from .retry import Attempt, Outcome, wait_before

ONCE = RetryPolicy(max_attempts=1, timeout_seconds=10)  # test sends: the caller sees the receiver's own answer


@dataclass(frozen=True, slots=True)
class Tried:
    """One attempt as it happened: its number, when it began (epoch s), how long it took, and the wait before the
    next one (None: it was the last)."""

    number: int
    attempt: Attempt
    began: float
    latency: float
    next_wait: float | None


@dataclass(frozen=True, slots=True)
class Delivery:
    attempts: int
    last: Attempt | None  # None: never attempted (expired)
    failure: DeliveryFailure | None  # None: delivered


def attempt_record(receiver: str, receiver_type: str, event: dict[str, Any], tried: Tried) -> DeliveryAttempt:
    """What the attempts topic keeps of one attempt."""
    at = datetime.fromtimestamp(tried.began, UTC)
    return DeliveryAttempt(
        trigger_id=event["id"],
        trigger_type=TriggerType(event["type"]).short,
        subject=event["subject"],
        receiver=receiver,
        receiver_type=receiver_type,
        attempt=tried.number,
        at=at,
        latency_seconds=round(tried.latency, 6),
        outcome=tried.attempt.outcome.value,
        result=tried.attempt.result,
        detail=tried.attempt.detail,
        next_attempt_at=None
        if tried.next_wait is None
        else datetime.fromtimestamp(tried.began + tried.latency + tried.next_wait, UTC),
    )


async def deliver(
    sender: Sender,
    event: dict[str, Any],
    raw: bytes,
    *,
    on_attempt: Callable[[Tried], None] = lambda tried: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.time,
) -> Delivery:
    """``policy`` overrides the sender's own (the API's hook test tries once)."""
    policy = policy or sender.retry
    rng = rng or random.Random()
    last: Attempt | None = None
    for number in range(1, policy.max_attempts + 1):
        began, started = clock(), time.monotonic()
        last = await sender.attempt(event, raw)
        latency = time.monotonic() - started
        more = last.outcome is Outcome.RETRY and number < policy.max_attempts
        wait = wait_before(number + 1, policy, last.retry_after, rng) if more else None
        on_attempt(Tried(number, last, began, latency, wait))
        if wait is not None:
            await sleep(wait)
        if last.outcome is Outcome.DELIVERED:
            return Delivery(number, last, None)
        if last.outcome is Outcome.REJECTED:
            failure = DeliveryFailure.NO_RECIPIENTS if last.result == "no_recipients" else DeliveryFailure.REJECTED
            return Delivery(number, last, failure)
    assert last is not None
    return Delivery(policy.max_attempts, last, DeliveryFailure.EXHAUSTED)
