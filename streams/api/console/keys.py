"""The API keys page, for an admin key: the keys (never a secret), a new key shown once, and revoking one. The forms
call the JSON API's own key operations (``routes.api_keys``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from schemas.apikeys import ISSUABLE

from ..problems import ProblemError, field_errors
from ..routes import api_keys as api
from .pages import Me

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/api-keys")
async def keys(me: Me) -> HTMLResponse:
    me.need("admin")
    return await _page(me)


@router.post("/api-keys/new")
async def create(
    me: Me,
    name: Annotated[str, Form(max_length=200)] = "",
    scope: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> HTMLResponse:
    me.change("admin", csrf)
    try:
        body = api.ApiKeyRequest.model_validate({"name": name.strip(), "scope": scope})
    except ValidationError as exc:
        errors = {e.field.split(".")[-1]: e.message for e in field_errors([dict(x) for x in exc.errors()])}
        return await _page(me, 422, form={"name": name, "scope": scope}, errors=errors)
    created = await api.create_api_key(me.key, me.ctx, body, me.request, Response())
    return await _page(me, 201, created=created)


@router.post("/api-keys/revoke")
async def revoke(
    me: Me, key_id: Annotated[str, Form(max_length=20)] = "", csrf: Annotated[str | None, Form()] = None
) -> HTMLResponse:
    me.change("admin", csrf)
    try:
        await api.revoke_api_key(me.key, me.ctx, key_id)
    except ProblemError as exc:
        if exc.status not in (404, 409):
            raise
        return await _page(me, exc.status, problem=exc.detail)
    return await _page(me, revoked=key_id)


async def _page(me: Me, status: int = 200, **values: object) -> HTMLResponse:
    listed = await api.list_api_keys(me.key, me.ctx)
    values.setdefault("form", {})
    values.setdefault("errors", {})
    return me.show("api-keys.html", status, keys=listed.items, scopes=ISSUABLE, **values)
