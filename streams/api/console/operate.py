"""The operator's pages (``operate`` scope): given-up deliveries with each receiver's health, and dead letters,
each filtered by the URL and sent again in bulk after a preview of what would go. They call the JSON API's own
operations (``routes.operations``), so the console decides nothing the API would not."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from schemas.deadletter import DeadLetter, DeadLetterReason, DeliveryFailure, Replay

from ...client import deadletters, operations
from ..deps import ReadSlot
from ..problems import ProblemError
from ..routes import operations as api
from .pages import Me

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[ReadSlot])  # its pages read Kafka
WHEN: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
LISTED = 200  # rows a page shows; the counts cover all that match
DELIVERY_FILTERS = ("receiver", "reason", "type", "since", "until")
LETTER_FILTERS = ("reason", "topic", "since", "until")


def _filters(
    given: Mapping[str, str], names: tuple[str, ...], reasons: type[StrEnum]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The filters of a page's URL or form, parsed as the API's: (values, errors by field)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        text = given.get(name, "").strip()
        if not text:
            values[name] = None
        elif name in ("since", "until"):
            try:
                values[name] = WHEN.validate_python(text)
            except ValidationError:
                errors[name] = "a time with its zone, such as 2026-12-07T08:00:00Z"
        elif name == "reason":
            try:
                values[name] = reasons(text)
            except ValueError:
                errors[name] = f"one of {', '.join(r.value for r in reasons)}"
        else:
            values[name] = text
    return values, errors


def _form_values(values: dict[str, Any]) -> dict[str, str]:
    """The filters as the form and the links write them back."""
    return {k: "" if v is None else v.isoformat() if isinstance(v, datetime) else str(v) for k, v in values.items()}


@router.get("/deliveries")
async def deliveries(me: Me, request: Request) -> HTMLResponse:
    me.need("operate")
    values, errors = _filters(request.query_params, DELIVERY_FILTERS, DeliveryFailure)
    undelivered = request.query_params.get("undelivered") == "on"
    listed, problem = None, None
    if not errors:
        try:
            listed = await api.list_failed_deliveries(me.key, me.ctx, undelivered=undelivered, limit=LISTED, **values)
        except ProblemError as exc:
            problem = exc.detail
    health = (await api.list_delivery_attempts(me.key, me.ctx, window=3600.0, limit=1)).health
    return me.show(
        "deliveries.html",
        filters=_form_values(values) | {"undelivered": "on" if undelivered else ""},
        errors=errors,
        problem=problem,
        listed=listed,
        health=health,
        reasons=[r.value for r in DeliveryFailure],
    )


@router.get("/delivery")
async def delivery(me: Me, id: str = "") -> HTMLResponse:
    """One given-up delivery (``<trigger id>|<receiver>``): why, its trigger, every attempt, and a redeliver."""
    me.need("operate")
    letters, delivered = await operations.given_up(me.ctx.settings)
    found = next((d for d in letters if d.id == id), None)
    if found is None:
        return me.show("missing.html", 404, what=f"given-up delivery {id}")
    attempts = await api.list_delivery_attempts(
        me.key, me.ctx, receiver=found.receiver, trigger_id=found.trigger_id, window=7 * 86400.0, limit=100
    )
    return me.show(
        "delivery.html",
        d=found,
        now="delivered since" if found.id in delivered else "still undelivered",
        attempts=attempts.items,
        event=json.dumps(found.event, indent=2),
    )


@router.post("/deliveries/redeliver")
async def redeliver(me: Me, request: Request) -> HTMLResponse:
    """Those a filter chooses, or one (``id``): a preview with the count, then the redelivery once confirmed."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    me.change("operate", form.get("csrf"))
    one = form.get("id", "").strip()
    values, errors = ({}, {}) if one else _filters(form, DELIVERY_FILTERS, DeliveryFailure)
    confirmed = form.get("confirm") == "yes"
    result, problem = None, None
    if not errors:
        try:
            body = api.RedeliverRequest(dry_run=not confirmed, ids=[one] if one else [], **values)
            result = await api.redeliver(me.key, me.ctx, body)
        except (ProblemError, ValidationError) as exc:
            problem = exc.detail if isinstance(exc, ProblemError) else str(exc)
    filters = {"id": one} if one else _form_values(values)
    return me.show("redeliver.html", filters=filters, errors=errors, problem=problem, result=result)


@router.get("/dead-letters")
async def dead_letters(me: Me, request: Request) -> HTMLResponse:
    me.need("operate")
    values, errors = _filters(request.query_params, LETTER_FILTERS, DeadLetterReason)
    listed, problem = None, None
    if not errors:
        try:
            listed = await api.list_dead_letters(me.key, me.ctx, limit=LISTED, **values)
        except ProblemError as exc:
            problem = exc.detail
    return me.show(
        "dead-letters.html",
        filters=_form_values(values),
        errors=errors,
        problem=problem,
        listed=listed,
        reasons=[r.value for r in DeadLetterReason],
    )


async def _letter(me: Me, dead_letter_id: str) -> tuple[DeadLetter | None, list[Replay]]:
    """One dead letter, and its replays (None: no such dead letter)."""
    letter = next((d for d in await operations.dead_letters(me.ctx.settings) if d.id == dead_letter_id), None)
    history = [] if letter is None else (await operations.history(me.ctx.settings)).get(letter.id, [])
    return letter, history


@router.get("/dead-letter")
async def dead_letter(me: Me, id: str = "") -> HTMLResponse:
    me.need("operate")
    letter, history = await _letter(me, id)
    if letter is None:
        return me.show("missing.html", 404, what=f"dead letter {id}")
    original = deadletters.readable(deadletters.original(letter)[1])
    text = json.dumps(original, indent=2) if isinstance(original, dict) else str(original or "")
    return me.show("dead-letter.html", letter=letter, replays=history, event=text, errors={}, result=None)


@router.post("/dead-letter/replay")
async def replay_one(
    me: Me,
    id: Annotated[str, Form(max_length=512)],
    event: Annotated[str, Form(max_length=1_000_000)],
    csrf: Annotated[str | None, Form()] = None,
    confirm: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """One dead letter, replayed as corrected in the editor: checked by the workers' decoder first (a dry run),
    published once confirmed."""
    me.change("operate", csrf)
    letter, history = await _letter(me, id)
    if letter is None:
        return me.show("missing.html", 404, what=f"dead letter {id}")
    errors: dict[str, str] = {}
    result = None
    try:
        doc = json.loads(event)
        if not isinstance(doc, dict):
            raise ValueError("the event must be a JSON object")
        body = api.ReplayRequest(fixes=[api.Fix(dead_letter_id=id, event=doc)], dry_run=confirm != "yes")
        result = await api.replay_dead_letters(me.key, me.ctx, body)
    except ValueError as exc:  # not JSON (json.JSONDecodeError is a ValueError)
        errors["event"] = str(exc)
    except ProblemError as exc:
        errors["event"] = "; ".join(f"{e.message}" for e in exc.errors) if exc.errors else exc.detail
    status = 422 if errors else 200
    return me.show(
        "dead-letter.html", status, letter=letter, replays=history, event=event, errors=errors, result=result
    )


@router.post("/dead-letters/replay")
async def replay_many(me: Me, request: Request) -> HTMLResponse:
    form = {k: str(v) for k, v in (await request.form()).items()}
    me.change("operate", form.get("csrf"))
    values, errors = _filters(form, LETTER_FILTERS, DeadLetterReason)
    result, problem = None, None
    if not errors:
        try:
            body = api.ReplayRequest(dry_run=form.get("confirm") != "yes", **values)
            result = await api.replay_dead_letters(me.key, me.ctx, body)
        except ProblemError as exc:
            problem = exc.detail
    return me.show("replay.html", filters=_form_values(values), errors=errors, problem=problem, result=result)


@router.get("/changes")
async def changes(me: Me) -> HTMLResponse:
    """The audit trail of the last week."""
    me.need("operate")
    listed = await api.list_changes(me.key, me.ctx, limit=LISTED)
    return me.show("changes.html", listed=listed)
