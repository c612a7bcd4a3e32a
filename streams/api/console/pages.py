"""The console's pages under ``/ui/``: server-rendered (Jinja2), plain forms, no script. Each page reads and
writes through the same store and checks as the JSON API; the session (``sessions``) stands in for the key.

Every change is a POST carrying the session's CSRF token, from this origin (``Sec-Fetch-Site``), by a key whose
scope allows it: checked here, on the server, whatever the page showed."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from schemas.apikeys import ApiKey, Scope
from schemas.subscriptions import ThresholdSubscription

from ...client.explain import NoAnswer
from ..auth import authenticate
from ..deps import VIA, Context, ReadSlot, context
from ..problems import ProblemError, field_errors
from ..routes import subscriptions as api_subscriptions
from . import chart
from .sessions import Session, Sessions, same_token

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
COOKIE = "cdp-console"
SECURE_COOKIE = "__Host-cdp-console"  # over TLS: the browser then pins it to this host and path /
_ENV = Environment(loader=PackageLoader(__package__, "templates"), autoescape=select_autoescape(), trim_blocks=True)
_ENV.filters["segment"] = lambda text: quote(str(text), safe="")  # one path segment, "/" included
_CSS = (resources.files(__package__) / "static" / "console.css").read_bytes()

router = APIRouter(prefix="/ui", include_in_schema=False)


def sessions(request: Request) -> Sessions:
    held: Sessions = request.app.state.console_sessions
    return held


def _secure(request: Request, ctx: Context) -> bool:
    return request.url.scheme == "https" or (ctx.settings.api_public_url or "").startswith("https://")


def _token(request: Request) -> str | None:
    return request.cookies.get(SECURE_COOKIE) or request.cookies.get(COOKIE)


def _root(request: Request) -> str:
    """The way back to ``/ui/`` from the request's path: every link and redirect is relative, so the console works
    under any prefix a proxy adds."""
    return "../" * request.url.path.split("/ui/", 1)[-1].count("/")


def page(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(name).render(root=_root(request), **values), status, headers=HEADERS)


class SignIn(Exception):
    """No live session: to the sign-in page."""


def is_console(request: Request) -> bool:
    return request.url.path.startswith("/ui/")


def signed_out(request: Request) -> Response:
    return RedirectResponse(_root(request) + "sign-in", 303)


def refused(request: Request, status: int, detail: str) -> HTMLResponse:
    """A refused request, as a page (the JSON API answers the same with a problem document)."""
    title = {401: "Not signed in", 403: "Not allowed", 404: "Not found", 503: "Unavailable"}.get(status, "Refused")
    return page(request, "error.html", status, title=title, detail=detail, code=status)


class Signed:
    """The request's session and the key behind it (``signed``)."""

    def __init__(self, session: Session, key: ApiKey, ctx: Context, request: Request) -> None:
        self.session = session
        self.key = key
        self.ctx = ctx
        self.request = request

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def key_id(self) -> str:
        return self.key.key_id

    @property
    def key_name(self) -> str:
        return self.key.name

    @property
    def scope(self) -> str:
        return self.key.scope

    def may(self, scope: Scope) -> bool:
        return self.key.allows(scope)

    def need(self, scope: Scope) -> None:
        """Refuse a page beyond the key's scope."""
        if not self.may(scope):
            raise ProblemError(
                403, f"the key {self.key.key_id} has scope {self.key.scope!r}; this page needs {scope!r}"
            )

    def change(self, scope: Scope, csrf: str | None) -> None:
        """Refuse a change that is cross-site, without this session's token, or beyond the key's scope."""
        site = self.request.headers.get("Sec-Fetch-Site")
        if site not in (None, "same-origin"):
            raise ProblemError(403, f"a change must come from this console's own pages (Sec-Fetch-Site: {site})")
        if not same_token(csrf, self.session.csrf):
            raise ProblemError(403, "the form's token does not match this session: reload the page and try again")
        if not self.may(scope):
            raise ProblemError(
                403, f"the key {self.key.key_id} has scope {self.key.scope!r}; this change needs {scope!r}"
            )

    def show(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page for this session; its cookie signed anew when due, so that its idle time restarts."""
        shown = page(self.request, name, status, me=self, may=self.may, **values)
        renewed = sessions(self.request).renewed(self.session, time.time())
        if renewed is not None:
            _set_cookie(shown, self.request, self.ctx, renewed)
        return shown


async def signed(request: Request, ctx: Annotated[Context, Depends(context)]) -> Signed:
    """The live session of the request, its key checked against the keys the API holds now; else to sign-in.
    Async, so that it runs in the request's own context: the audit trail reads ``VIA`` from it."""
    ctx.store.require_current_keys()
    session = sessions(request).find(_token(request), time.time())
    record = None if session is None else ctx.store.keys.get(session.key_id)
    if session is None or record is None:  # none, expired, ended, or its key revoked since
        raise SignIn()
    VIA.set("console")
    return Signed(session, record, ctx, request)


Me = Annotated[Signed, Depends(signed)]


@router.get("/console.css")
async def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css", headers={**HEADERS, "Cache-Control": "max-age=3600"})


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse("subscriptions" if _token(request) else "sign-in", 303)


@router.get("/sign-in")
async def sign_in_form(request: Request) -> HTMLResponse:
    return page(request, "sign-in.html")


@router.post("/sign-in")
async def sign_in(
    request: Request, ctx: Annotated[Context, Depends(context)], key: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    ctx.store.require_current_keys()
    try:
        record = authenticate(ctx.store.keys, key, "read")
    except ProblemError as exc:
        return page(request, "sign-in.html", 401, error=exc.detail)
    held = sessions(request)
    now = time.time()
    held.close(_token(request), now)  # a new session at every sign-in: the one before ends
    response = RedirectResponse("subscriptions", 303)
    _set_cookie(response, request, ctx, held.open(record.key_id, now))
    return response


def _set_cookie(response: Response, request: Request, ctx: Context, token: str) -> None:
    secure = _secure(request, ctx)
    response.set_cookie(
        SECURE_COOKIE if secure else COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


@router.post("/sign-out")
async def sign_out(me: Me, csrf: Annotated[str | None, Form()] = None) -> Response:
    me.change("read", csrf)
    sessions(me.request).close(_token(me.request), time.time())
    response = RedirectResponse("sign-in", 303)
    response.delete_cookie(SECURE_COOKIE if _secure(me.request, me.ctx) else COOKIE, path="/")
    return response


PAGE = 100  # subscriptions a page lists, each with its entity's answer


@router.get("/subscriptions", dependencies=[ReadSlot])  # asks the workers
async def subscriptions(me: Me, after: str = "") -> HTMLResponse:
    """A page of subscriptions in id order, each with its entity's latest value and its own state, asked of the
    owning workers in one request per partition."""
    listed = await api_subscriptions.list_subscriptions(me.key, me.ctx, limit=PAGE, after=after or None)
    page = listed.items
    kinds: tuple[Literal["segment", "measure"], ...] = ("segment", "measure")
    asked = await asyncio.gather(
        *(
            me.ctx.store.explain_many(kind, sorted({s.entity_id for s in page if s.entity_kind == kind}))
            for kind in kinds
        )
    )
    answers = {(kind, ident): reply for kind, found in zip(kinds, asked, strict=True) for ident, reply in found.items()}
    rows = []
    for sub in page:
        reply = answers.get((sub.entity_kind, sub.entity_id))
        said = (reply.explanation or {}) if reply else {}
        mine = next((x for x in said.get("subscriptions", []) if x["subscription_id"] == sub.subscription_id), None)
        rows.append({"sub": sub, "answered": reply is not None, "value": said.get("value"), "mine": mine})
    total = len(me.ctx.store.subscriptions)
    return me.show("subscriptions.html", rows=rows, total=total, more=listed.next_after, after=after)


@router.get("/subscriptions/new")
async def new_subscription(me: Me) -> HTMLResponse:
    me.need("write")
    return me.show("subscription-form.html", form={}, errors={}, editing=None)


@router.post("/subscriptions/new")
async def create_subscription(me: Me, request: Request) -> Response:
    return await _save(me, request, None)


@router.get("/subscriptions/{subscription_id}", dependencies=[ReadSlot])
async def subscription(me: Me, subscription_id: str) -> HTMLResponse:
    found = me.ctx.store.subscriptions.get(subscription_id)
    if found is None:
        return me.show("missing.html", 404, what=f"subscription {subscription_id}")
    said: dict[str, Any] | None = None
    problem, drawn = None, None
    try:
        reply = await me.ctx.store.explain_subscription(found)
        subs: list[dict[str, Any]] = (reply.explanation or {}).get("subscriptions", [])
        applied = ", ".join(
            f"{topic}[{reply.partition}] before offset {offset}" for topic, offset in reply.applied.items() if offset
        )
        said = {
            "reply": reply,
            "entity": reply.explanation or {},
            "mine": subs[0] if subs else None,
            "applied": applied or "the start of its partitions",
        }
        if subs:
            points = [
                chart.Point(datetime.fromisoformat(e["event_time"]), e["value"], e["outcome"])
                for e in subs[0]["evaluations"]
            ]
            drawn = chart.svg(points, found.threshold, found.rearm_below, f"Recent values of {found.entity_key}")
    except NoAnswer as exc:
        problem = str(exc)
    return me.show("subscription.html", sub=found, said=said, problem=problem, chart=drawn)


@router.get("/subscriptions/{subscription_id}/edit")
async def edit_subscription(me: Me, subscription_id: str) -> HTMLResponse:
    me.need("write")
    found = me.ctx.store.subscriptions.get(subscription_id)
    if found is None:
        return me.show("missing.html", 404, what=f"subscription {subscription_id}")
    return me.show("subscription-form.html", form=_as_form(found), errors={}, editing=found.subscription_id)


@router.post("/subscriptions/{subscription_id}/edit")
async def update_subscription(me: Me, request: Request, subscription_id: str) -> Response:
    return await _save(me, request, subscription_id)


@router.post("/subscriptions/{subscription_id}/delete")
async def delete_subscription(me: Me, subscription_id: str, csrf: Annotated[str | None, Form()] = None) -> Response:
    me.change("write", csrf)
    if me.ctx.store.subscriptions.get(subscription_id) is not None:
        await api_subscriptions.delete_subscription(me.key, me.ctx, subscription_id)
    return RedirectResponse("../../subscriptions", 303)


FIELDS = ("subscription_id", "entity_kind", "entity_id", "threshold", "recovery_threshold", "owner", "labels")


def _as_form(sub: ThresholdSubscription) -> dict[str, str]:
    return {
        "subscription_id": sub.subscription_id,
        "entity_kind": sub.entity_kind,
        "entity_id": sub.entity_id,
        "threshold": f"{sub.threshold:g}",
        "recovery_threshold": "" if sub.recovery_threshold is None else f"{sub.recovery_threshold:g}",
        "owner": sub.owner,
        "labels": "\n".join(f"{k}={v}" for k, v in sub.labels.items()),
    }


def _from_form(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's model takes it: empty optional fields absent, labels one ``name=value`` a line."""
    labels = {}
    for line in form.get("labels", "").splitlines():
        if line.strip():
            name, _, value = line.partition("=")
            labels[name.strip()] = value.strip()
    doc: dict[str, Any] = {k: form.get(k, "").strip() for k in FIELDS if k != "labels"}
    if not doc["recovery_threshold"]:
        del doc["recovery_threshold"]
    return {**doc, "labels": labels}


async def _save(me: Signed, request: Request, editing: str | None) -> Response:
    raw = await request.form()
    form = {k: str(raw.get(k, "")) for k in (*FIELDS, "csrf")}
    me.change("write", form["csrf"])
    if editing is not None:
        form["subscription_id"] = editing
    try:
        sub = ThresholdSubscription.model_validate(_from_form(form))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in field_errors([dict(e) for e in exc.errors()]):
            name = error.field.split(".")[0]
            if name not in FIELDS:  # a rule across fields: next to the field its message starts with
                name = next((f for f in FIELDS if error.message.startswith(f)), "form")
            errors.setdefault(name, error.message)
        return me.show("subscription-form.html", 422, form=form, errors=errors, editing=editing)
    if editing is None and me.ctx.store.subscriptions.get(sub.subscription_id) is not None:
        errors = {"subscription_id": "a subscription with this id exists: open it to change it"}
        return me.show("subscription-form.html", 409, form=form, errors=errors, editing=None)
    await api_subscriptions.put_subscription(
        me.key, me.ctx, sub.subscription_id, sub.spec(), me.request, Response()
    )  # the API's own route: its checks and its audit record
    # relative to .../subscriptions/new or .../subscriptions/<id>/edit: the subscription's page
    target = quote(sub.subscription_id, safe="")
    return RedirectResponse(f"../{target}" if editing is not None else target, 303)
