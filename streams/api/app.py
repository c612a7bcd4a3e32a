"""The triggers API: threshold subscriptions, webhook registrations (REST
hooks, as Power Automate, Logic Apps and Zapier use them) and the trigger
types' samples and schemas, under /v1. One router per resource
(``routes/``), the parts they share in ``deps``; the OpenAPI document is
generated from them (``/openapi.json``; a committed copy is checked by a
test)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..kafka.clients import MissingTopicsError, refusal
from ..kafka.codec import TooLarge
from ..kafka.egress import EgressPolicy
from ..kafka.health import Health
from ..metrics import Metrics
from ..settings import Settings
from . import docs_page
from .auth import RateLimiter
from .body_limit import BodyLimit
from .console import hooks as console_hooks
from .console import keys as console_keys
from .console import operate, overview, pages, triggers
from .console import runs as console_runs
from .console.sessions import Sessions
from .deps import Context, scope_of
from .problems import MEDIA_TYPE, FieldError, ProblemError, field_errors, responses
from .routes import api_keys, events, explain, health, hooks, operations, runs, subscriptions, trigger_types
from .store import Store

log = logging.getLogger("cdp_triggers.api")
VERSION = "1.0.0"


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, without Kafka (for ``cdp-triggers schemas export``)."""
    offline = Settings(hook_signing_key="document-only-" + "x" * 32)
    return create_api(offline, None).openapi()  # type: ignore[arg-type]  # no request is served


def summary(description: str) -> str:
    """An operation's summary: its description's first clause."""
    first = description.split("\n\n")[0].replace("\n", " ")
    return re.split(r"\. |: | \(|; ", first, maxsplit=1)[0].rstrip(".")


def create_api(
    settings: Settings, store: Store, metrics: Metrics | None = None, watchdog: Health | None = None
) -> FastAPI:
    """``watchdog``: the process's (``serve`` starts it); its checks answer ``/livez`` and ``/readyz``."""
    metrics = metrics or Metrics()
    watchdog = watchdog or Health(metrics, settings.loop_timeout_seconds)
    watchdog.add_check("store", lambda: store.not_ready())
    signing_key = settings.hook_key()
    if signing_key is None:
        raise ValueError("CDP_HOOK_SIGNING_KEY (or CDP_HOOK_SIGNING_KEY_FILE) is required by the API")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.start()
        try:
            yield
        finally:
            await store.stop()

    app = FastAPI(
        title="cdp-triggers API",
        version=VERSION,
        lifespan=lifespan,
        description="Subscribe automation tools to customer-data triggers: threshold subscriptions, webhook "
        "registrations (REST hooks) and trigger-type samples. Authenticate with an API key in the X-API-Key header.",
        responses=responses(401, 413, 429, 503),
        docs_url=None,  # docs_page serves it without a CDN
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationId: the route's camelCase name
    )
    app.state.context = Context(
        settings=settings,
        store=store,
        metrics=metrics,
        limiter=RateLimiter(settings.api_rate_limit_per_minute),
        event_limiter=RateLimiter(settings.api_publish_events_per_minute, "events"),
        egress=EgressPolicy.of(settings),
        signing_key=signing_key,
        health=watchdog,
        reads=asyncio.Semaphore(settings.api_kafka_reads),
    )

    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # an API answer is never a page to render or frame (the docs page sets its own policy)
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        route = request.scope.get("route")
        operation = getattr(route, "name", None) or "unmatched"
        metrics.api_requests.labels(operation, str(response.status_code)).inc()
        metrics.api_latency.labels(operation).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        if pages.is_console(request):
            return pages.refused(request, exc.status, exc.detail)
        return JSONResponse(exc.body(request.url.path), exc.status, headers=exc.headers, media_type=MEDIA_TYPE)

    @app.exception_handler(pages.SignIn)
    async def _signed_out(request: Request, exc: pages.SignIn) -> Response:
        return pages.signed_out(request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = field_errors(list(exc.errors()))
        first = errors[0] if errors else FieldError(field="body", message="invalid")
        return await _problem(request, ProblemError(422, f"{first.field}: {first.message}", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 413:  # BodyLimit
            detail = (
                f"the request body is over the limit of {settings.api_max_body_bytes:,} bytes (CDP_API_MAX_BODY_BYTES)"
            )
        return await _problem(request, ProblemError(exc.status_code, detail, headers=dict(exc.headers or {})))

    @app.exception_handler(TooLarge)
    async def _too_large(request: Request, exc: TooLarge) -> Response:
        return await _problem(request, ProblemError(413, f"{exc}; nothing was written"))

    @app.exception_handler(KafkaError)
    async def _kafka(request: Request, exc: KafkaError) -> Response:
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        why = refusal(exc)
        if why in ("too-large", "invalid"):  # the record itself: sending it again cannot succeed
            status = 413 if why == "too-large" else 422
            detail = f"Kafka refused the record ({cause}); nothing was written, and the same request will fail again"
            return await _problem(request, ProblemError(status, detail))
        if why == "grant":
            log.error("Kafka refused the API's principal on %s %s: %s", request.method, request.url.path, cause)
            detail = f"the API's Kafka principal is not allowed to do this ({cause}): an operator must grant it"
            return await _problem(request, ProblemError(500, detail))
        detail = f"Kafka is unavailable ({cause}); nothing was changed, retry later"
        return await _problem(request, ProblemError(503, detail, headers={"Retry-After": "5"}))

    @app.exception_handler(MissingTopicsError)
    async def _missing(request: Request, exc: MissingTopicsError) -> Response:
        # the operations read topics a dispatcher creates when it first starts
        detail = f"{exc}: create the topics ('cdp-triggers topics create') and start the worker and dispatcher"
        return await _problem(request, ProblemError(503, detail, headers={"Retry-After": "30"}))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return await _problem(request, ProblemError(500, "unexpected error; it is logged"))

    for resource in (
        health,
        events,
        subscriptions,
        hooks,
        trigger_types,
        explain,
        runs,
        operations,
        api_keys,
    ):  # the order of the OpenAPI document
        for route in resource.router.routes:
            if not isinstance(route, APIRoute):
                continue
            # FastAPI's default summary is the name title-cased ("Getsubscription"): the docstring's first words
            route.summary = route.summary or summary(route.description or route.name)
            if scope := scope_of(route):  # stated in the document, per operation
                route.openapi_extra = {**(route.openapi_extra or {}), "x-required-scope": scope}
        app.include_router(resource.router)
    app.include_router(docs_page.router)
    app.state.console_sessions = Sessions.under(signing_key, settings.console_session_idle_seconds)
    app.include_router(pages.router)
    app.include_router(operate.router)
    app.include_router(triggers.router)
    app.include_router(console_hooks.router)
    app.include_router(overview.router)
    app.include_router(console_keys.router)
    app.include_router(console_runs.router)

    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            schema["components"]["schemas"] = dict(sorted({**events.schemas(), **components}.items()))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]  # FastAPI's documented way to extend the document
    return app
