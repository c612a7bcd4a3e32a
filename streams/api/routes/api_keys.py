"""API keys, managed with an admin key: list, create (the key shown once), revoke. The same records as
``cdp-triggers api-keys``; only a hash of each secret is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from schemas.apikeys import ApiKey, Issuable, issue

from ..deps import Admin, Ctx, audit, who
from ..problems import ProblemError, responses

router = APIRouter()
KeyIdPath = Annotated[str, Path(pattern=r"^[a-z0-9]{12}$")]


class ApiKeyView(BaseModel):
    """A key as the API shows it: never its secret, nor its hash."""

    key_id: str
    name: str
    scope: str
    created_at: datetime
    created_by: str | None = Field(description="The key that created it (null: the CLI)")

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(
            key_id=key.key_id, name=key.name, scope=key.scope, created_at=key.created_at, created_by=key.created_by
        )


class ApiKeyList(BaseModel):
    items: list[ApiKeyView]


class ApiKeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=128, description="Who or what uses it")
    scope: Issuable  # not admin: an admin key is made only with the CLI (see schemas.apikeys)


class CreatedApiKey(ApiKeyView):
    key: str = Field(description="The full key (cdpk_<id>_<secret>): shown only now, only its hash is stored")


@router.get("/v1/api-keys", name="listApiKeys", tags=["api keys"], responses=responses(403))
async def list_api_keys(_: Admin, ctx: Ctx) -> ApiKeyList:
    """Every key, oldest first: id, name, scope, who created it (never a secret)."""
    return ApiKeyList(items=[ApiKeyView.of(k) for k in sorted(ctx.store.keys, key=lambda k: k.created_at)])


@router.post("/v1/api-keys", name="createApiKey", tags=["api keys"], status_code=201, responses=responses(403, 422))
async def create_api_key(
    key: Admin, ctx: Ctx, body: ApiKeyRequest, request: Request, response: Response
) -> CreatedApiKey:
    """Create a key of scope read, write, operate or publish; its secret is in this answer only."""
    record, full = issue(body.name, body.scope, created_by=who(key))
    await ctx.store.put_key(record)
    await audit(ctx, key, "api-key.create", record.key_id, f"{record.name}, scope {record.scope}")
    response.headers["Location"] = ctx.location(request, "/v1/api-keys")
    return CreatedApiKey(**ApiKeyView.of(record).model_dump(), key=full)


@router.delete(
    "/v1/api-keys/{key_id}",
    name="revokeApiKey",
    tags=["api keys"],
    status_code=204,
    responses=responses(403, 404, 409, 422),
)
async def revoke_api_key(key: Admin, ctx: Ctx, key_id: KeyIdPath) -> Response:
    """Revoke a key: refused from then on by this API at once, by its other replicas within the key-list bound.
    A key cannot revoke itself (409): that would lock out whoever holds it mid-change."""
    found = ctx.store.keys.get(key_id)
    if found is None:
        raise ProblemError(404, f"no API key {key_id!r}")
    if key_id == key.key_id:
        raise ProblemError(409, "this is the key making the request: revoke it with another admin key or the CLI")
    await ctx.store.remove_key(key_id)
    await audit(ctx, key, "api-key.revoke", key_id, f"{found.name}, scope {found.scope}")
    return Response(status_code=204)
