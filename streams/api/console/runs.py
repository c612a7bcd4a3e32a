"""The refresh-run pages: the recent runs with their progress and stall deadlines, and one run's tasks. They call
the JSON API's own run operations (``routes.runs``, ``routes.explain``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ..deps import ReadSlot
from ..problems import ProblemError
from ..routes import explain as api_explain
from ..routes import runs as api
from .pages import Me

router = APIRouter(prefix="/ui", include_in_schema=False, dependencies=[ReadSlot])  # its pages read Kafka
WINDOWS = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}  # how far back the list looks, in the URL


@router.get("/runs")
async def runs(me: Me, window: str = "24h") -> HTMLResponse:
    chosen = window if window in WINDOWS else "24h"
    listed = await api.list_runs(me.key, me.ctx, window=WINDOWS[chosen], limit=100)
    return me.show("runs.html", runs=listed.items, since=listed.since, window=chosen, windows=list(WINDOWS))


@router.get("/run")
async def run(me: Me, id: str = "") -> HTMLResponse:
    """One run, as its owning worker tells it: each task, what the run waits for, when it stalls, what it fired."""
    try:
        reply = await api_explain.explain(me.key, me.ctx, "run", id)
    except ProblemError as exc:
        if exc.status != 503:
            raise
        return me.show("run.html", run_id=id, said=None, problem=exc.detail)
    return me.show("run.html", run_id=id, said=reply.explanation or {}, reply=reply, problem=None)
