"""Dead letters and given-up deliveries, for whoever automates operations: what ``cdp-triggers dead-letters`` and
``cdp-triggers deliveries`` do, through the same functions, under the ``operate`` scope.

Each call reads the topics it needs to their end (the operations are rare and the topics small), bounded like
every read of the CLI. A replay is all or nothing; a redelivery is a request the dispatchers carry out, whose
outcome ``GET /v1/deliveries/failed`` shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.audit import Change
from schemas.deadletter import (
    DeadLetter,
    DeadLetterReason,
    DeliveryAttempt,
    DeliveryDeadLetter,
    DeliveryFailure,
    Replay,
)
from schemas.triggers import TriggerType

from ...client import deadletters, deliveries, operations
from ..deps import Context, Ctx, Operator, ReadSlot, audit, who
from ..problems import FieldError, ProblemError, responses

router = APIRouter(dependencies=[ReadSlot])  # each reads Kafka or asks the workers
MAX_CHOSEN = 1000  # ids or fixes in one request: an operation, not a bulk load


def _range(since: datetime | None, until: datetime | None, where: str) -> None:
    if since is not None and until is not None and until <= since:
        field = f"{where}.until"
        raise ProblemError(422, f"{field}: must be after since", errors=[FieldError(field=field, message="<= since")])


def _chosen(body: BaseModel) -> str:
    """A bulk action's choice, as the audit trail names its target: the ids (or fixes) and filters it was given."""
    given = body.model_dump(mode="json", exclude_defaults=True, exclude={"dry_run", "force"})
    if "fixes" in given:
        given["fixes"] = [f["dead_letter_id"] for f in given["fixes"]]
    return ", ".join(f"{k}={v}" for k, v in sorted(given.items())) or "nothing"


def _trigger_type(name: str | None, field: str) -> TriggerType | None:
    if name is None:
        return None
    try:
        return TriggerType.from_short(name)
    except ValueError as exc:
        raise ProblemError(422, f"{field}: {exc}", errors=[FieldError(field=field, message=str(exc))]) from None


class DeadLetterView(DeadLetter):
    replays: list[Replay] = Field(description="Its replays, oldest first")


class DeadLetterList(BaseModel):
    items: list[DeadLetterView] = Field(description="Oldest first, at most 'limit'")
    total: int = Field(description="How many match, 'limit' aside")
    counts_by_reason: dict[str, int] = Field(description="Of all that match")


@router.get("/v1/dead-letters", name="listDeadLetters", tags=["operations"], responses=responses(403, 422))
async def list_dead_letters(
    _: Operator,
    ctx: Ctx,
    reason: DeadLetterReason | None = None,
    topic: Annotated[str | None, Query(max_length=249, description="An input topic")] = None,
    since: Annotated[AwareDatetime | None, Query(description="Dead-lettered at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Dead-lettered before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterList:
    """What the workers rejected, why, and the original bytes (base64), with each one's replays."""
    _range(since, until, "query")
    letters = await operations.dead_letters(ctx.settings)
    history = await operations.history(ctx.settings)
    chosen = deadletters.select(letters, deadletters.Choice((), reason, topic, since, until))
    return DeadLetterList(
        items=[DeadLetterView(**d.model_dump(), replays=history.get(d.id, [])) for d in chosen[:limit]],
        total=len(chosen),
        counts_by_reason=deadletters.counts_by_reason(chosen),
    )


class Fix(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dead_letter_id: str = Field(max_length=512)
    event: dict[str, Any] = Field(description="The corrected change event, replayed in the dead letter's place")


class ReplayRequest(BaseModel):
    """What to replay: ids, filters, or fixes (with nothing else chosen, the fixes choose)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(max_length=512)]] = Field(default_factory=list, max_length=MAX_CHOSEN)
    reason: DeadLetterReason | None = None
    topic: str | None = Field(None, max_length=249)
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    fixes: list[Fix] = Field(default_factory=list, max_length=MAX_CHOSEN)
    force: bool = Field(False, description="Replay again what was replayed before, as new events")
    dry_run: bool = Field(False, description="Validate and answer what would be published; publish nothing")


class Replayed(BaseModel):
    dead_letter_id: str
    topic: str
    key: str
    event_id: str = Field(description="The replayed event's id (derived from the dead-letter id)")
    fixed: bool


class ReplayResult(BaseModel):
    dry_run: bool
    items: list[Replayed]


@router.post("/v1/dead-letters:replay", name="replayDeadLetters", tags=["operations"], responses=responses(403, 422))
async def replay_dead_letters(key: Operator, ctx: Ctx, body: ReplayRequest) -> ReplayResult:
    """Publish the chosen dead letters again on their topics, each validated by the workers' own decoder first:
    all of them, or none (422 naming each one that cannot be). Recorded as by this API key; a dead letter
    replayed before is refused unless 'force'."""
    _range(body.since, body.until, "body")
    fixes: dict[str, bytes] = {}
    for i, fix in enumerate(body.fixes):
        if fix.dead_letter_id in fixes:
            where = f"body.fixes[{i}].dead_letter_id"
            raise ProblemError(
                422,
                f"{where}: {fix.dead_letter_id} is fixed twice",
                errors=[FieldError(field=where, message="fixed twice")],
            )
        fixes[fix.dead_letter_id] = deadletters.fix_bytes(fix.event)
    choice = deadletters.Choice(tuple(body.ids), body.reason, body.topic, body.since, body.until)
    try:
        prepared = await operations.replay(ctx.settings, choice, fixes, who(key), body.force, body.dry_run)
    except deadletters.ChoiceError as exc:
        raise ProblemError(422, str(exc), errors=[FieldError(field="body.ids", message=str(exc))]) from None
    except deadletters.ReplayRefused as exc:
        errors = [
            FieldError(field=f"dead letter {p.split(': ', 1)[0]}", message=p.split(": ", 1)[-1]) for p in exc.problems
        ]
        raise ProblemError(
            422,
            f"nothing replayed; {len(exc.problems)} cannot be: {exc.problems[0]}",
            errors=errors,
            kind="replay-refused",
        ) from None
    items = [
        Replayed(
            dead_letter_id=p.letter.id,
            topic=p.topic,
            key=p.key.decode(),
            event_id=p.replay.event_id,
            fixed=p.replay.fixed,
        )
        for p in prepared
    ]
    if items and not body.dry_run:
        fixed = sum(i.fixed for i in items)
        await audit(ctx, key, "dead-letters.replay", _chosen(body), f"{len(items)} replayed, {fixed} of them corrected")
    return ReplayResult(dry_run=body.dry_run, items=items)


class FailedDelivery(DeliveryDeadLetter):
    status: Literal["undelivered", "delivered"] = Field(
        description="delivered: a receiver took it since it was given up (redelivered, or delivered on a replay)"
    )


class FailedDeliveryList(BaseModel):
    items: list[FailedDelivery] = Field(description="Oldest first, at most 'limit'")
    total: int
    undelivered: int = Field(description="How many of all that match are still undelivered")


@router.get("/v1/deliveries/failed", name="listFailedDeliveries", tags=["operations"], responses=responses(403, 422))
async def list_failed_deliveries(
    _: Operator,
    ctx: Ctx,
    receiver: Annotated[str | None, Query(max_length=256, description="A receiver, or hook:<id>")] = None,
    reason: DeliveryFailure | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Given up at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Given up before")] = None,
    type: Annotated[str | None, Query(max_length=128, description="A trigger type, by short name")] = None,
    undelivered: Annotated[bool, Query(description="Only those not delivered since")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FailedDeliveryList:
    """Deliveries the dispatchers gave up: receiver, reason, attempts, last error, the trigger event, and whether
    it was delivered since."""
    _range(since, until, "query")
    letters, delivered = await operations.given_up(ctx.settings)
    chosen = deliveries.select(
        letters, deliveries.Choice((), receiver, reason, since, until, _trigger_type(type, "query.type"))
    )
    if undelivered:
        chosen = [d for d in chosen if d.id not in delivered]
    views = [
        FailedDelivery(**d.model_dump(), status="delivered" if d.id in delivered else "undelivered") for d in chosen
    ]
    return FailedDeliveryList(
        items=views[:limit], total=len(views), undelivered=sum(v.status == "undelivered" for v in views)
    )


class AttemptList(BaseModel):
    items: list[DeliveryAttempt] = Field(description="Oldest first, the last 'limit' of those that match")
    total: int = Field(description="How many match, 'limit' aside")
    health: dict[str, dict[str, int]] = Field(
        description="Per receiver, of all that match: delivered, retried, given_up"
    )

    @classmethod
    async def read(
        cls, ctx: Context, window: float, limit: int, receiver: str | None = None, trigger_id: str | None = None
    ) -> AttemptList:
        since = datetime.now(UTC) - timedelta(seconds=window)
        chosen = await operations.attempts(ctx.settings, since, receiver, trigger_id)
        return cls(items=chosen[-limit:], total=len(chosen), health=deliveries.receiver_health(chosen))


@router.get("/v1/deliveries/attempts", name="listDeliveryAttempts", tags=["operations"], responses=responses(403, 422))
async def list_delivery_attempts(
    _: Operator,
    ctx: Ctx,
    receiver: Annotated[str | None, Query(max_length=256, description="A receiver, or hook:<id>")] = None,
    trigger_id: Annotated[str | None, Query(max_length=256, description="One trigger's attempts")] = None,
    window: Annotated[float, Query(gt=0, le=7 * 86400, description="Seconds counted back")] = 3600.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AttemptList:
    """Every delivery attempt of the window: the receiver's answer, latency and when the next attempt is due,
    and each receiver's health (delivered, retried, given up)."""
    return await AttemptList.read(ctx, window, limit, receiver, trigger_id)


class RedeliverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=MAX_CHOSEN)
    receiver: str | None = Field(None, max_length=256)
    reason: DeliveryFailure | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    type: str | None = Field(None, max_length=128, description="Only triggers of this type, by short name")
    dry_run: bool = Field(False, description="Answer what would be asked, and how many; ask nothing")


class RedeliverResult(BaseModel):
    dry_run: bool
    requested: list[str] = Field(
        description="Asked of the dispatchers (with dry_run: would be): poll listFailedDeliveries for the outcome"
    )
    already_delivered: list[str] = Field(description="Delivered since they were given up: not sent again")


@router.post(
    "/v1/deliveries:redeliver",
    name="redeliverDeliveries",
    tags=["operations"],
    status_code=202,
    responses=responses(403, 422),
)
async def redeliver(key: Operator, ctx: Ctx, body: RedeliverRequest) -> RedeliverResult:
    """Ask the dispatchers to send the chosen given-up deliveries again, through their normal path, with the same
    webhook id; what was delivered since is not sent again. Accepted once Kafka has the requests."""
    _range(body.since, body.until, "body")
    kind = _trigger_type(body.type, "body.type")
    choice = deliveries.Choice(tuple(body.ids), body.receiver, body.reason, body.since, body.until, kind)
    try:
        todo = await operations.redeliver(ctx.settings, choice, who(key), body.dry_run)
    except deliveries.ChoiceError as exc:
        raise ProblemError(422, str(exc), errors=[FieldError(field="body.ids", message=str(exc))]) from None
    if todo.requests and not body.dry_run:
        await audit(ctx, key, "deliveries.redeliver", _chosen(body), f"{len(todo.requests)} redelivery(ies) asked")
    return RedeliverResult(
        dry_run=body.dry_run,
        requested=[r.delivery_dead_letter_id for _, r in todo.requests],
        already_delivered=[d.id for d in todo.delivered],
    )


class ChangeList(BaseModel):
    items: list[Change] = Field(description="Latest first, the last 'limit' of those in the window")
    total: int = Field(description="How many were made in the window")


@router.get("/v1/changes", name="listChanges", tags=["operations"], responses=responses(403, 422))
async def list_changes(
    _: Operator,
    ctx: Ctx,
    window: Annotated[float, Query(gt=0, le=365 * 86400, description="Seconds counted back")] = 7 * 86400.0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangeList:
    """The audit trail: every change made through the API or its console (subscriptions, hooks, redeliveries,
    replays), by which key, when, and through which door."""
    made = await ctx.store.changes(datetime.now(UTC) - timedelta(seconds=window))
    return ChangeList(items=list(reversed(made[-limit:])), total=len(made))
