"""The overview (``operate`` scope): what ``cdp-triggers status`` reports, each item linking to its page. Taken
from Kafka at each load, as the CLI takes it (``client.snapshot``), with a short sample of the consumer groups."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ...client import snapshot
from ...client.status import Limits, attention, report
from ..deps import ReadSlot
from .pages import Me

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[ReadSlot])  # its pages read Kafka
WINDOW_SECONDS = 3600.0
SAMPLE_SECONDS = 1.0  # between the two looks at the groups: the page's wait, and what "no progress" means here


@router.get("/overview")
async def overview(me: Me) -> HTMLResponse:
    me.need("operate")
    taken = await snapshot.take(me.ctx.settings, WINDOW_SECONDS, SAMPLE_SECONDS, [])
    said = report(taken, attention(taken, Limits()))
    return me.show("overview.html", r=said)
