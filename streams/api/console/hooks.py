"""The hooks pages: the registered callbacks (flows in Power Automate, Logic Apps, Zapier), each with its recent
delivery attempts and a test send. They call the JSON API's own hook operations (``routes.hooks``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse

from ..deps import ReadSlot
from ..problems import ProblemError
from ..routes import hooks as api
from .pages import Me

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/hooks")
async def hooks(me: Me) -> HTMLResponse:
    listed = await api.list_hooks(me.key, me.ctx)
    return me.show("hooks.html", hooks=listed.items)


@router.get("/hook", dependencies=[ReadSlot])  # its attempts
async def hook(me: Me, id: str = "") -> HTMLResponse:
    return await _page(me, id, None)


@router.post("/hook/test")
async def test(
    me: Me, id: Annotated[str, Form(max_length=64)], csrf: Annotated[str | None, Form()] = None
) -> HTMLResponse:
    """One sample of each type the hook takes, sent once through the real signing: the callback's answers."""
    me.change("write", csrf)
    return await _page(me, id, await api.test_hook(me.key, me.ctx, id))


async def _page(me: Me, hook_id: str, tested: api.TestResults | None) -> HTMLResponse:
    found = me.ctx.store.hooks.records.get(hook_id)
    if found is None:
        return me.show("missing.html", 404, what=f"hook {hook_id}")
    try:
        attempts = await api.list_hook_attempts(me.key, me.ctx, hook_id, window=86400.0, limit=50)
        problem = None
    except ProblemError as exc:
        attempts, problem = None, exc.detail
    return me.show("hook.html", hook=api.HookView.of(found), attempts=attempts, problem=problem, tested=tested)
