"""Why the engine decided what it did: the owning worker's own answer (see ``client.explain``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from schemas.explain import ExplainReply

from ...client.explain import NoAnswer
from ..deps import Ctx, Reader, ReadSlot
from ..problems import ProblemError, responses

router = APIRouter(dependencies=[ReadSlot])  # each reads Kafka or asks the workers


@router.get(
    "/v1/explain/{kind}/{ident}",
    name="explain",
    tags=["explain"],
    responses=responses(403, 404, 422, 503),
)
async def explain(
    _: Reader,
    ctx: Ctx,
    kind: Annotated[
        str, Path(pattern="^(segment|measure|data-source|run|subscription)$", description="What to explain")
    ],
    ident: Annotated[str, Path(min_length=1, max_length=256, description="Its id, as in its change events")],
) -> ExplainReply:
    """What the worker that owns it decided, and why: a segment's or measure's latest value and each
    subscription's state, a run's tasks and stall deadline, a data source's latest refreshes (a subscription:
    its entity's answer, with its own state only), with the input offsets the answer reflects. 503 when no
    worker answered in time."""
    try:
        if kind == "subscription":
            found = ctx.store.subscriptions.get(ident)
            if found is None:
                raise ProblemError(404, f"no subscription {ident!r}")
            return await ctx.store.explain_subscription(found)
        return await ctx.store.explain(kind, ident)  # type: ignore[arg-type]  # the path pattern is the Kind
    except NoAnswer as exc:
        raise ProblemError(503, str(exc)) from None
