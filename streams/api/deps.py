"""What every route depends on: the process's context, and the key a request must bring."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from aiokafka.errors import KafkaError
from fastapi import Depends, Path, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from schemas.apikeys import ApiKey, Scope
from schemas.audit import Action, Change

from ..kafka.egress import EgressPolicy
from ..kafka.health import Health
from ..metrics import Metrics
from ..settings import Settings
from .auth import HEADER, RateLimiter, authenticate
from .problems import ProblemError
from .store import Store


@dataclass(frozen=True)
class Context:
    """The API process's parts, made once by ``create_api``."""

    settings: Settings
    store: Store
    metrics: Metrics
    limiter: RateLimiter
    event_limiter: RateLimiter  # POST /v1/events counts events, not requests
    egress: EgressPolicy
    signing_key: bytes
    health: Health
    reads: asyncio.Semaphore  # CDP_API_KAFKA_READS slots (``read_slot``)

    def location(self, request: Request, path: str) -> str:
        """The URL of ``path`` as clients reach it (``CDP_API_PUBLIC_URL`` behind a proxy)."""
        base = self.settings.api_public_url or str(request.base_url)
        return base.rstrip("/") + path


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


Ctx = Annotated[Context, Depends(context)]

KEY_HEADER = APIKeyHeader(
    name=HEADER, auto_error=False, description="cdpk_<id>_<secret>, from 'cdp-triggers api-keys create'"
)


def needs(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """The dependency that authenticates a request's key for ``scope`` and takes one rate-limit token (publish:
    none here; the route takes one per event from ``event_limiter`` once it has counted them)."""

    async def check(ctx: Ctx, presented: Annotated[str | None, Depends(KEY_HEADER)]) -> ApiKey:
        ctx.store.require_current_keys()
        key = authenticate(ctx.store.keys, presented, scope)
        if scope != "publish":
            ctx.limiter.check(key.key_id, time.monotonic())
        return key

    check.scope = scope  # type: ignore[attr-defined]  # read by scope_of(), for the OpenAPI document
    return check


def scope_of(route: APIRoute) -> Scope | None:
    """The key scope a route needs: from the ``needs`` dependency among its own."""
    for dependency in route.dependant.dependencies:
        scope: Scope | None = getattr(dependency.call, "scope", None)
        if scope is not None:
            return scope
    return None


READ_SLOT_WAIT = 5.0  # seconds a request waits for a read slot before it is told to retry


async def read_slot(ctx: Ctx) -> AsyncIterator[None]:
    """One of the process's ``CDP_API_KAFKA_READS`` slots, for a request that reads topics or asks the workers.
    Each holds Kafka consumers and memory while it runs, so a crowd of them (a live page open in many tabs) waits
    its turn, and past ``READ_SLOT_WAIT`` is told to retry, instead of exhausting the API or the brokers."""
    try:
        async with asyncio.timeout(READ_SLOT_WAIT):
            await ctx.reads.acquire()
    except TimeoutError:
        ctx.metrics.api_busy.inc()
        raise ProblemError(
            503,
            f"this API is serving {ctx.settings.api_kafka_reads} Kafka reads already, the most it runs at once "
            "(CDP_API_KAFKA_READS): retry shortly",
            headers={"Retry-After": "5"},
        ) from None
    try:
        yield
    finally:
        ctx.reads.release()


ReadSlot = Depends(read_slot)
Reader = Annotated[ApiKey, Depends(needs("read"))]
Writer = Annotated[ApiKey, Depends(needs("write"))]
Operator = Annotated[ApiKey, Depends(needs("operate"))]
Publisher = Annotated[ApiKey, Depends(needs("publish"))]
Admin = Annotated[ApiKey, Depends(needs("admin"))]
SubscriptionIdPath = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")]
HookIdPath = Annotated[str, Path(pattern=r"^hk_[a-z0-9]{20,40}$")]
TypeName = Annotated[str, Path(max_length=64, description="e.g. segment.threshold.crossed")]


# Which door a request came through, for the audit trail: the console's session dependency sets "console".
VIA: ContextVar[Literal["api", "console"]] = ContextVar("via", default="api")


def who(key: ApiKey) -> str:
    """A key as records of what it did name it (never its secret)."""
    return f"api-key {key.key_id} ({key.name})"


async def audit(ctx: Context, key: ApiKey, action: Action, target: str, detail: str) -> None:
    """Record a change that was made, acknowledged; a 503 that says so if the record cannot be written."""
    change = Change(at=datetime.now(UTC), by=who(key), via=VIA.get(), action=action, target=target, detail=detail)
    try:
        await ctx.store.record(change)
    except KafkaError as exc:
        raise ProblemError(
            503,
            f"the change was made, but its audit record could not be written ({type(exc).__name__}): "
            "make it again to record it",
            headers={"Retry-After": "5"},
        ) from None
