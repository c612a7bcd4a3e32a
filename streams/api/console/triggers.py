"""The trigger pages: every trigger type with a sample, the recent triggers (filtered in the URL) and one trigger
with its CloudEvent and, for operators, its delivery attempts. Read from the actions and attempts topics as the
CLI reads them (``client.operations``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from schemas.triggers import KINDS, TriggerEvent, TriggerType

from ...client import deliveries, operations
from ..deps import ReadSlot
from .operate import WHEN
from .pages import Me

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[ReadSlot])  # its pages read Kafka
SHOWN = 200  # the latest triggers a page lists
EVERY = (10, 30, 60)  # seconds a live page may reload itself after: polling, no script; each load is bounded
WINDOW = timedelta(hours=1)  # how far back the list looks unless told


@router.get("/trigger-types")
async def trigger_types(me: Me) -> HTMLResponse:
    kinds = [
        {
            "short": kind.type.short,
            "type": kind.type.value,
            "ours": not kind.in_product,
            "doc": (kind.payload.__doc__ or "").strip(),
            "summary": kind.describe(kind.example),
            "example": json.dumps(kind.example, indent=2),
        }
        for kind in KINDS.values()
    ]
    return me.show("trigger-types.html", kinds=kinds)


@router.get("/triggers")
async def triggers(me: Me, request: Request) -> HTMLResponse:
    query = request.query_params
    errors: dict[str, str] = {}
    chosen = None
    if query.get("type"):
        try:
            chosen = TriggerType.from_short(query["type"])
        except ValueError as exc:
            errors["type"] = str(exc)
    subject = query.get("subject", "").strip()
    since = datetime.now(UTC) - WINDOW
    if query.get("since"):
        try:
            since = WHEN.validate_python(query["since"])
        except ValidationError:
            errors["since"] = "a time with its zone, such as 2026-12-07T08:00:00Z"
    found: list[TriggerEvent] = []
    if not errors:
        found = await operations.recent_triggers(
            me.ctx.settings,
            since,
            lambda e: (chosen is None or e.type is chosen) and subject in ("", e.subject),
            SHOWN,
        )
    rows = [{"event": e, "line": KINDS[e.type].describe(e.data).line} for e in found]
    filters = {"type": query.get("type", ""), "subject": subject, "since": query.get("since", "")}
    every = int(query["every"]) if query.get("every", "").isdigit() and int(query["every"]) in EVERY else None
    return me.show(
        "triggers.html",
        rows=rows,
        filters=filters,
        errors=errors,
        since=since,
        types=sorted(t.short for t in TriggerType),
        shown=SHOWN,
        every=every,
        choices=EVERY,
    )


@router.get("/trigger")
async def trigger(me: Me, id: str = "", time: str = "") -> HTMLResponse:
    """One trigger, found from its event time on (the link from the list carries both)."""
    try:
        at = WHEN.validate_python(time)
    except ValidationError:
        return me.show("missing.html", 404, what=f"trigger {id} (its link lacks a valid time)")
    found = await operations.recent_triggers(me.ctx.settings, at, lambda e: e.id == id, 1)
    if not found:
        return me.show("missing.html", 404, what=f"trigger {id} on the actions topic since {time}")
    event = found[0]
    attempts = await operations.attempts(me.ctx.settings, at, trigger_id=id)
    summary = KINDS[event.type].describe(event.data)
    cloud_event = json.dumps(event.model_dump(mode="json", exclude_none=True), indent=2)
    return me.show(
        "trigger.html",
        event=event,
        summary=summary,
        cloud_event=cloud_event,
        standing=deliveries.standing(attempts),
        attempts=attempts if me.may("operate") else None,  # the receivers' answers: an operator's
    )
