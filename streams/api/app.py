"""The triggers API: threshold subscriptions, webhook registrations (REST
hooks, as Power Automate, Logic Apps and Zapier use them) and the trigger
types' samples and schemas, under /v1. The OpenAPI document is generated from
this module (``/openapi.json``; a committed copy is checked by a test)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.apikeys import ApiKey, Scope
from schemas.hooks import Hook, HookFilter, HookRequest, hook_secret
from schemas.routes import RetryPolicy
from schemas.subscriptions import SubscriptionSpec, ThresholdSubscription
from schemas.triggers import KINDS, TriggerType, sample_event

from ..delivery.deliver import deliver
from ..delivery.hooks import receiver_name
from ..metrics import Metrics
from ..runtime.egress import EgressDenied, EgressPolicy
from ..settings import Settings
from .auth import HEADER, RateLimiter, authenticate
from .problems import MEDIA_TYPE, FieldError, ProblemError, field_errors, responses
from .store import ApiStore

log = logging.getLogger("cdp_triggers.api")
VERSION = "1.0.0"
BY_NAME = {t.short: t for t in TriggerType}
ONCE = RetryPolicy(max_attempts=1, timeout_seconds=10)  # hook tests: the caller sees the receiver's answer


class SubscriptionList(BaseModel):
    items: list[ThresholdSubscription]
    next_after: str | None = Field(None, description="Pass as 'after' for the next page; absent on the last")


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


class TriggerTypeInfo(BaseModel):
    name: str = Field(description="Short name used in hooks and routes, e.g. segment.threshold.crossed")
    type: str = Field(description="The CloudEvents type, e.g. io.cdptriggers.segment.threshold.crossed.v1")
    title: str
    in_product: bool = Field(description="One of the six triggers of the CDP we model; false: our own")
    sample: dict[str, Any] = Field(description="A complete trigger event (CloudEvents JSON) with the example payload")
    data_schema: dict[str, Any] = Field(description="JSON Schema of the event's data")


class TriggerTypeList(BaseModel):
    items: list[TriggerTypeInfo]


class Health(BaseModel):
    status: str
    subscriptions: int
    hooks: int


def trigger_type_info(trigger_type: TriggerType) -> TriggerTypeInfo:
    kind = KINDS[trigger_type]
    sample = sample_event(
        trigger_type,
        f"sample-{trigger_type.short}",
        "/cdp-triggers/sample",
        datetime(2026, 11, 24, 9, tzinfo=UTC),
    )
    return TriggerTypeInfo(
        name=trigger_type.short,
        type=trigger_type.value,
        title=kind.describe(kind.example).title,
        in_product=kind.in_product,
        sample=sample.model_dump(mode="json"),
        data_schema=kind.payload.model_json_schema(),
    )


KEY_HEADER = APIKeyHeader(
    name=HEADER, auto_error=False, description="cdpk_<id>_<secret>, from 'cdp-triggers api-keys create'"
)


def needs(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """The dependency that authenticates a request's key for ``scope`` and takes one rate-limit token."""

    async def check(request: Request, presented: Annotated[str | None, Depends(KEY_HEADER)]) -> ApiKey:
        store = request.app.state.store
        store.require_current_keys()
        key = authenticate(store.keys, presented, scope)
        request.app.state.limiter.check(key.key_id, time.monotonic())
        return key

    return check


Reader = Annotated[ApiKey, Depends(needs("read"))]
Writer = Annotated[ApiKey, Depends(needs("write"))]
SubscriptionIdPath = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$")]
HookIdPath = Annotated[str, Path(pattern=r"^hk_[a-z0-9]{20,40}$")]
TypeName = Annotated[str, Path(max_length=64, description="e.g. segment.threshold.crossed")]


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, without Kafka (for ``cdp-triggers schemas export``)."""
    offline = Settings(hook_signing_key="document-only-" + "x" * 32)
    return create_api(offline, None).openapi()  # type: ignore[arg-type]  # no request is served


def create_api(settings: Settings, store: ApiStore, metrics: Metrics | None = None) -> FastAPI:
    metrics = metrics or Metrics()
    limiter = RateLimiter(settings.api_rate_limit_per_minute)
    egress = EgressPolicy.of(settings)
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
        responses=responses(401, 429, 503),
    )
    app.state.store, app.state.limiter = store, limiter

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        operation = getattr(route, "name", None) or "unmatched"
        metrics.api_requests.labels(operation, str(response.status_code)).inc()
        metrics.api_latency.labels(operation).observe(time.perf_counter() - started)
        return response

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return JSONResponse(exc.body(request.url.path), exc.status, headers=exc.headers, media_type=MEDIA_TYPE)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(list(exc.errors()))
        first = errors[0] if errors else FieldError(field="body", message="invalid")
        return await _problem(request, ProblemError(422, f"{first.field}: {first.message}", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return await _problem(request, ProblemError(exc.status_code, detail, headers=dict(exc.headers or {})))

    @app.exception_handler(KafkaError)
    async def _kafka(request: Request, exc: KafkaError) -> JSONResponse:
        return await _problem(
            request,
            ProblemError(
                503,
                f"Kafka is unavailable ({type(exc).__name__}); nothing was changed, retry later",
                headers={"Retry-After": "5"},
            ),
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return await _problem(request, ProblemError(500, "unexpected error; it is logged"))

    def location(request: Request, path: str) -> str:
        base = settings.api_public_url.rstrip("/") if settings.api_public_url else str(request.base_url).rstrip("/")
        return base + path

    # -- health -------------------------------------------------------------

    @app.get("/healthz", name="health", tags=["health"], responses=responses(503))
    async def health() -> Health:
        """Whether the API can serve (its copies of the topics follow them, the key list is current) and what it
        holds; no key needed. 503 with a problem saying why when it cannot."""
        if store.failure is not None:
            raise ProblemError(503, f"the API stopped following a topic ({store.failure}); it is restarting")
        store.require_current_keys()
        return Health(status="ok", subscriptions=len(store.subscriptions), hooks=len(store.hooks.records))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus metrics of this API process; no key (bind to loopback or filter at the proxy)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # -- subscriptions ------------------------------------------------------

    @app.get("/v1/subscriptions", name="listSubscriptions", tags=["subscriptions"], responses=responses(403, 422))
    async def list_subscriptions(
        _: Reader,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after: Annotated[str | None, Query(max_length=256, description="Ids after this one")] = None,
    ) -> SubscriptionList:
        """Threshold subscriptions in id order, a page at a time."""
        ids = sorted(s.subscription_id for s in store.subscriptions if after is None or s.subscription_id > after)
        page = [store.subscriptions.get(i) for i in ids[:limit]]
        return SubscriptionList(
            items=[s for s in page if s is not None], next_after=ids[limit - 1] if len(ids) > limit else None
        )

    @app.get(
        "/v1/subscriptions/{subscription_id}",
        name="getSubscription",
        tags=["subscriptions"],
        responses=responses(403, 404, 422),
    )
    async def get_subscription(_: Reader, subscription_id: SubscriptionIdPath) -> ThresholdSubscription:
        found = store.subscriptions.get(subscription_id)
        if found is None:
            raise ProblemError(404, f"no subscription {subscription_id!r}")
        return found

    @app.put(
        "/v1/subscriptions/{subscription_id}",
        name="putSubscription",
        tags=["subscriptions"],
        responses={201: {"model": ThresholdSubscription, "description": "created"}, **responses(403, 422)},
    )
    async def put_subscription(
        _: Writer, subscription_id: SubscriptionIdPath, spec: SubscriptionSpec, request: Request, response: Response
    ) -> ThresholdSubscription:
        """Create or replace a subscription (the same record the CLI and YAML files write)."""
        sub = ThresholdSubscription.model_validate({**spec.model_dump(), "subscription_id": subscription_id})
        existed = store.subscriptions.get(subscription_id) is not None
        await store.put_subscription(sub)
        if not existed:
            response.status_code = 201
            response.headers["Location"] = location(request, f"/v1/subscriptions/{quote(subscription_id, safe='')}")
        return sub

    @app.delete(
        "/v1/subscriptions/{subscription_id}",
        name="deleteSubscription",
        tags=["subscriptions"],
        status_code=204,
        responses=responses(403, 404, 422),
    )
    async def delete_subscription(_: Writer, subscription_id: SubscriptionIdPath) -> Response:
        if store.subscriptions.get(subscription_id) is None:
            raise ProblemError(404, f"no subscription {subscription_id!r}")
        await store.remove_subscription(subscription_id)
        return Response(status_code=204)

    # -- hooks --------------------------------------------------------------

    async def register(key: ApiKey, body: HookRequest, request: Request, response: Response) -> CreatedHook:
        try:
            await egress.check_host(str(body.url))
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
        await store.put_hook(hook)
        response.status_code = 201
        response.headers["Location"] = location(request, f"/v1/hooks/{hook_id}")
        return CreatedHook(**HookView.of(hook).model_dump(), secret=hook_secret(signing_key, hook.id, hook.nonce))

    @app.post("/v1/hooks", name="createHook", tags=["hooks"], status_code=201, responses=responses(403, 422))
    async def create_hook(key: Writer, body: HookRequest, request: Request, response: Response) -> CreatedHook:
        """Register a callback URL for trigger events of the given types (REST hooks)."""
        return await register(key, body, request, response)

    @app.post(
        "/v1/trigger-types/{name}/hooks",
        name="createTypedHook",
        tags=["hooks"],
        status_code=201,
        responses=responses(403, 404, 422),
    )
    async def create_typed_hook(
        key: Writer,
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
        return await register(key, request_body, request, response)

    @app.get("/v1/hooks", name="listHooks", tags=["hooks"], responses=responses(403))
    async def list_hooks(_: Reader) -> HookList:
        return HookList(items=[HookView.of(h) for h in sorted(store.hooks.records, key=lambda h: h.id)])

    @app.get("/v1/hooks/{hook_id}", name="getHook", tags=["hooks"], responses=responses(403, 404, 422))
    async def get_hook(_: Reader, hook_id: HookIdPath) -> HookView:
        hook = store.hooks.records.get(hook_id)
        if hook is None:
            raise ProblemError(404, f"no hook {hook_id!r}")
        return HookView.of(hook)

    @app.delete(
        "/v1/hooks/{hook_id}", name="deleteHook", tags=["hooks"], status_code=204, responses=responses(403, 404, 422)
    )
    async def delete_hook(_: Writer, hook_id: HookIdPath) -> Response:
        """Unregister: no trigger is delivered to it once this returns (deliveries in flight may finish)."""
        if store.hooks.records.get(hook_id) is None:
            raise ProblemError(404, f"no hook {hook_id!r}")
        await store.remove_hook(hook_id)
        return Response(status_code=204)

    @app.post("/v1/hooks/{hook_id}/test", name="testHook", tags=["hooks"], responses=responses(403, 404, 422))
    async def test_hook(_: Writer, hook_id: HookIdPath) -> TestResults:
        """Send one sample event of each type the hook covers, signed like real ones, once each (no retries);
        the ids start with 'test-'."""
        hook = store.hooks.records.get(hook_id)
        sender = store.hooks.sender(receiver_name(hook_id))
        if hook is None or sender is None:
            raise ProblemError(404, f"no hook {hook_id!r}")
        results = []
        for name in hook.types:
            event = sample_event(
                BY_NAME[name],
                f"test-{secrets.token_hex(8)}",
                f"/cdp-triggers/{settings.app_id}",
                datetime.now(UTC),
            ).model_dump(mode="json")
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

    # -- trigger types -------------------------------------------------------

    @app.get("/v1/trigger-types", name="listTriggerTypes", tags=["trigger types"], responses=responses(403))
    async def list_trigger_types(_: Reader) -> TriggerTypeList:
        """Every trigger type with a sample event and its data's JSON Schema (for flow designers)."""
        return TriggerTypeList(items=[trigger_type_info(t) for t in TriggerType])

    @app.get(
        "/v1/trigger-types/{name}", name="getTriggerType", tags=["trigger types"], responses=responses(403, 404, 422)
    )
    async def get_trigger_type(_: Reader, name: TypeName) -> TriggerTypeInfo:
        if name not in BY_NAME:
            raise ProblemError(404, f"no trigger type {name!r}; known: {', '.join(sorted(BY_NAME))}")
        return trigger_type_info(BY_NAME[name])

    return app
