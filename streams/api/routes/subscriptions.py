"""Threshold subscriptions: the same records the CLI and subscription files write."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from schemas.subscriptions import SubscriptionSpec, ThresholdSubscription

from ..deps import Ctx, Reader, SubscriptionIdPath, Writer, audit
from ..problems import ProblemError, responses

router = APIRouter()


class SubscriptionList(BaseModel):
    items: list[ThresholdSubscription]
    next_after: str | None = Field(None, description="Pass as 'after' for the next page; absent on the last")


@router.get("/v1/subscriptions", name="listSubscriptions", tags=["subscriptions"], responses=responses(403, 422))
async def list_subscriptions(
    _: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(max_length=256, description="Ids after this one")] = None,
) -> SubscriptionList:
    """Threshold subscriptions in id order, a page at a time."""
    ids = sorted(s.subscription_id for s in ctx.store.subscriptions if after is None or s.subscription_id > after)
    page = [ctx.store.subscriptions.get(i) for i in ids[:limit]]
    return SubscriptionList(
        items=[s for s in page if s is not None], next_after=ids[limit - 1] if len(ids) > limit else None
    )


@router.get(
    "/v1/subscriptions/{subscription_id}",
    name="getSubscription",
    tags=["subscriptions"],
    responses=responses(403, 404, 422),
)
async def get_subscription(_: Reader, ctx: Ctx, subscription_id: SubscriptionIdPath) -> ThresholdSubscription:
    """One threshold subscription."""
    found = ctx.store.subscriptions.get(subscription_id)
    if found is None:
        raise ProblemError(404, f"no subscription {subscription_id!r}")
    return found


@router.put(
    "/v1/subscriptions/{subscription_id}",
    name="putSubscription",
    tags=["subscriptions"],
    responses={201: {"model": ThresholdSubscription, "description": "created"}, **responses(403, 422)},
)
async def put_subscription(
    key: Writer,
    ctx: Ctx,
    subscription_id: SubscriptionIdPath,
    spec: SubscriptionSpec,
    request: Request,
    response: Response,
) -> ThresholdSubscription:
    """Create or replace a subscription (the same record the CLI and YAML files write)."""
    sub = ThresholdSubscription.model_validate({**spec.model_dump(), "subscription_id": subscription_id})
    existed = ctx.store.subscriptions.get(subscription_id) is not None
    await ctx.store.put_subscription(sub)
    detail = f"{sub.entity_key}: threshold {sub.threshold:g}, re-arms below {sub.rearm_below:g}, owner {sub.owner}"
    await audit(ctx, key, "subscription.put", subscription_id, ("replaced: " if existed else "created: ") + detail)
    if not existed:
        response.status_code = 201
        response.headers["Location"] = ctx.location(request, f"/v1/subscriptions/{quote(subscription_id, safe='')}")
    return sub


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    name="deleteSubscription",
    tags=["subscriptions"],
    status_code=204,
    responses=responses(403, 404, 422),
)
async def delete_subscription(key: Writer, ctx: Ctx, subscription_id: SubscriptionIdPath) -> Response:
    """Remove a subscription: its threshold fires no more (a tombstone on the subscriptions topic)."""
    if ctx.store.subscriptions.get(subscription_id) is None:
        raise ProblemError(404, f"no subscription {subscription_id!r}")
    await ctx.store.remove_subscription(subscription_id)
    await audit(ctx, key, "subscription.delete", subscription_id, "removed")
    return Response(status_code=204)
