"""The audit trail: one record per change made through the API or its console, on the audit topic."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Action = Literal[
    "subscription.put",
    "subscription.delete",
    "hook.create",
    "hook.delete",
    "deliveries.redeliver",
    "dead-letters.replay",
    "api-key.create",
    "api-key.revoke",
]


class Change(BaseModel):
    """Who changed what, when, and through which door."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    by: str = Field(description="The API key that made it: 'api-key <id> (<name>)'")
    via: Literal["api", "console"]
    action: Action
    target: str = Field(
        description="What it changed: a subscription id, a hook id, a key id, or the filter of a bulk action"
    )
    detail: str = Field(description="What it did, in words (no secret)")
