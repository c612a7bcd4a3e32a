"""Whether the API can serve, and its metrics; no key needed."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from ..deps import Ctx
from ..problems import ProblemError, responses

router = APIRouter()


class Health(BaseModel):
    status: str
    subscriptions: int
    hooks: int


@router.get("/healthz", name="health", tags=["health"], responses=responses(503))
async def health(ctx: Ctx) -> Health:
    """Whether the API can serve (its copies of the topics follow them, the key list is current) and what it
    holds; no key needed. 503 with a problem saying why when it cannot."""
    if ctx.store.failure is not None:
        raise ProblemError(503, f"the API stopped following a topic ({ctx.store.failure}); it is restarting")
    ctx.store.require_current_keys()
    return Health(status="ok", subscriptions=len(ctx.store.subscriptions), hooks=len(ctx.store.hooks.records))


# The probes answer as a worker's do (JSON saying why), for Kubernetes: not API operations.
@router.get("/livez", include_in_schema=False)
async def livez(ctx: Ctx) -> JSONResponse:
    """Alive: this process's event loop turns (answering at all shows it; the watchdog ends a wedged one)."""
    alive, body = ctx.health.live()
    return JSONResponse(body, status_code=200 if alive else 503)


@router.get("/readyz", include_in_schema=False)
async def readyz(ctx: Ctx) -> JSONResponse:
    """Ready: the topics are loaded and followed, and the API key list is current."""
    ready, body = ctx.health.ready()
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(ctx: Ctx) -> Response:
    """Prometheus metrics of this API process; no key (bind to loopback or filter at the proxy)."""
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
