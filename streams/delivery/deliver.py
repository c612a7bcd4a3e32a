"""One trigger event to one receiver: attempts, waits, and the verdict."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from schemas.deadletter import DeliveryFailure
from schemas.routes import RetryPolicy

from .receivers import Sender
from .retry import Attempt, Outcome, wait_before

ONCE = RetryPolicy(max_attempts=1, timeout_seconds=10)  # test sends: the caller sees the receiver's own answer


@dataclass(frozen=True, slots=True)
class Delivery:
    attempts: int
    last: Attempt | None  # None: never attempted (expired)
    failure: DeliveryFailure | None  # None: delivered


async def deliver(
    sender: Sender,
    event: dict[str, Any],
    raw: bytes,
    *,
    on_attempt: Callable[[Attempt], None] = lambda a: None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    policy: RetryPolicy | None = None,
) -> Delivery:
    """``policy`` overrides the sender's own (the API's hook test tries once)."""
    policy = policy or sender.retry
    rng = rng or random.Random()
    last: Attempt | None = None
    for number in range(1, policy.max_attempts + 1):
        if last is not None:
            await sleep(wait_before(number, policy, last.retry_after, rng))
        last = await sender.attempt(event, raw)
        on_attempt(last)
        if last.outcome is Outcome.DELIVERED:
            return Delivery(number, last, None)
        if last.outcome is Outcome.REJECTED:
            failure = DeliveryFailure.NO_RECIPIENTS if last.result == "no_recipients" else DeliveryFailure.REJECTED
            return Delivery(number, last, failure)
    assert last is not None
    return Delivery(policy.max_attempts, last, DeliveryFailure.EXHAUSTED)
