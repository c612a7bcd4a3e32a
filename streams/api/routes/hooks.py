"""Webhook registrations (REST hooks, as Power Automate, Logic Apps and Zapier use them)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from schemas.apikeys import ApiKey
from schemas.hooks import Hook, HookFilter, HookRequest, hook_secret
from schemas.triggers import event_for_test_send

from ...delivery.deliver import ONCE, deliver
from ...delivery.hooks import receiver_name
from ...kafka.egress import EgressDenied
from ..deps import Context, Ctx, HookIdPath, Reader, ReadSlot, TypeName, Writer, audit
from ..problems import FieldError, ProblemError, responses
from .operations import AttemptList
from .trigger_types import BY_NAME

router = APIRouter()


class HookView(BaseModel):
    """A registration as the API shows it: the callback's query string is hidden
    (Power Automate puts its signature there) and the secret is never shown again."""

    id: str
    url: str
    types: list[str]
    filter: HookFilter
    description: str
    created_at: datetime

    @classmethod
    def of(cls, hook: Hook) -> HookView:
        parts = urlsplit(str(hook.url))
        url = urlunsplit(parts._replace(query="redacted" if parts.query else ""))
        return cls(
            id=hook.id,
            url=url,
            types=list(hook.types),
            filter=hook.filter,
            description=hook.description,
            created_at=hook.created_at,
        )


class CreatedHook(HookView):
    secret: str = Field(
        description="Standard Webhooks signing secret (whsec_...): shown once, verify each delivery with it"
    )


class HookList(BaseModel):
    items: list[HookView]


class TypedHookRequest(BaseModel):
    """A hook for one trigger type (the type is in the path): what the Power Automate connector sends."""

    model_config = HookRequest.model_config
    url: str = Field(description="Callback URL (Power Automate fills it in)")
    filter: HookFilter = Field(default_factory=HookFilter)
    description: str = Field("", max_length=256)


class TestResult(BaseModel):
    type: str
    event_id: str
    delivered: bool
    attempt: str = Field(description="ok, http_4xx, http_5xx, timeout, connection, denied ...")
    detail: str


class TestResults(BaseModel):
    results: list[TestResult]


async def register(ctx: Context, key: ApiKey, body: HookRequest, request: Request, response: Response) -> CreatedHook:
    try:
        await ctx.egress.check_host(str(body.url))
    except EgressDenied as exc:
        raise ProblemError(
            422,
            f"body.url: {exc}",
            errors=[FieldError(field="body.url", message=str(exc))],
            kind="callback-not-allowed",
        ) from None
    hook_id = "hk_" + secrets.token_hex(12)
    hook = Hook(
        **body.model_dump(),
        id=hook_id,
        nonce=secrets.token_hex(16),
        created_at=datetime.now(UTC),
        created_by=key.key_id,
    )
    await ctx.store.put_hook(hook)
    shown = HookView.of(hook)  # the callback's query string hidden: it may hold a signature
    await audit(ctx, key, "hook.create", hook_id, f"{', '.join(shown.types)} to {shown.url}")
    response.status_code = 201
    response.headers["Location"] = ctx.location(request, f"/v1/hooks/{hook_id}")
    return CreatedHook(**shown.model_dump(), secret=hook_secret(ctx.signing_key, hook.id, hook.nonce))


@router.post("/v1/hooks", name="createHook", tags=["hooks"], status_code=201, responses=responses(403, 422))
async def create_hook(key: Writer, ctx: Ctx, body: HookRequest, request: Request, response: Response) -> CreatedHook:
    """Register a callback URL for trigger events of the given types (REST hooks)."""
    return await register(ctx, key, body, request, response)


@router.post(
    "/v1/trigger-types/{name}/hooks",
    name="createTypedHook",
    tags=["hooks"],
    status_code=201,
    responses=responses(403, 404, 422),
)
async def create_typed_hook(
    key: Writer,
    ctx: Ctx,
    name: TypeName,
    body: TypedHookRequest,
    request: Request,
    response: Response,
) -> CreatedHook:
    """Register a callback for one trigger type: one webhook trigger per type in Power Automate."""
    if name not in BY_NAME:
        raise ProblemError(404, f"no trigger type {name!r}; known: {', '.join(sorted(BY_NAME))}")
    try:
        request_body = HookRequest.model_validate({**body.model_dump(), "types": [name]})
    except ValueError as exc:
        raise RequestValidationError(getattr(exc, "errors", lambda: [])()) from None
    return await register(ctx, key, request_body, request, response)


@router.get("/v1/hooks", name="listHooks", tags=["hooks"], responses=responses(403))
async def list_hooks(_: Reader, ctx: Ctx) -> HookList:
    """Every registered hook, in id order, without its secret."""
    return HookList(items=[HookView.of(h) for h in sorted(ctx.store.hooks.records, key=lambda h: h.id)])


@router.get("/v1/hooks/{hook_id}", name="getHook", tags=["hooks"], responses=responses(403, 404, 422))
async def get_hook(_: Reader, ctx: Ctx, hook_id: HookIdPath) -> HookView:
    """One hook: where it delivers, which types and filter, when it was made (its secret is shown only at creation)."""
    hook = ctx.store.hooks.records.get(hook_id)
    if hook is None:
        raise ProblemError(404, f"no hook {hook_id!r}")
    return HookView.of(hook)


@router.delete(
    "/v1/hooks/{hook_id}", name="deleteHook", tags=["hooks"], status_code=204, responses=responses(403, 404, 422)
)
async def delete_hook(key: Writer, ctx: Ctx, hook_id: HookIdPath) -> Response:
    """Unregister a hook: no trigger is delivered to it once this returns (deliveries in flight may finish)."""
    if ctx.store.hooks.records.get(hook_id) is None:
        raise ProblemError(404, f"no hook {hook_id!r}")
    await ctx.store.remove_hook(hook_id)
    await audit(ctx, key, "hook.delete", hook_id, "removed")
    return Response(status_code=204)


@router.post("/v1/hooks/{hook_id}/test", name="testHook", tags=["hooks"], responses=responses(403, 404, 422))
async def test_hook(_: Writer, ctx: Ctx, hook_id: HookIdPath) -> TestResults:
    """Send one sample event of each type the hook covers, signed like real ones, once each (no retries);
    the ids start with 'test-' and each carries the CloudEvents extension ``cdptest: true``."""
    hook = ctx.store.hooks.records.get(hook_id)
    sender = ctx.store.hooks.sender(receiver_name(hook_id))
    if hook is None or sender is None:
        raise ProblemError(404, f"no hook {hook_id!r}")
    results = []
    for name in hook.types:
        event = event_for_test_send(BY_NAME[name], f"/cdp-triggers/{ctx.settings.app_id}", datetime.now(UTC))
        outcome = await deliver(sender, event, orjson.dumps(event), policy=ONCE)
        last = outcome.last
        results.append(
            TestResult(
                type=name,
                event_id=event["id"],
                delivered=outcome.failure is None,
                attempt=last.result if last else "none",
                detail=last.detail if last else "",
            )
        )
    return TestResults(results=results)


@router.get(
    "/v1/hooks/{hook_id}/attempts",
    name="listHookAttempts",
    tags=["hooks"],
    responses=responses(403, 404, 422, 503),
    dependencies=[ReadSlot],
)
async def list_hook_attempts(
    _: Reader,
    ctx: Ctx,
    hook_id: HookIdPath,
    window: Annotated[float, Query(gt=0, le=7 * 86400, description="Seconds counted back")] = 3600.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AttemptList:
    """Every attempt to deliver to this hook in the window: the callback's answer, latency, and when the next
    attempt is due (test sends are not among them: their answer is the test's)."""
    if ctx.store.hooks.records.get(hook_id) is None:
        raise ProblemError(404, f"no hook {hook_id!r}")
    return await AttemptList.read(ctx, window, limit, receiver=receiver_name(hook_id))
