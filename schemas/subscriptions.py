"""Threshold subscriptions: the parameters a user gives a threshold trigger.

Stored on a compacted topic keyed by subscription_id; a tombstone (null value)
removes one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .events import Id, _Model

MAX_LABELS = 64
Label = Annotated[str, Field(min_length=1, max_length=128)]
Labels = Annotated[
    dict[Label, Annotated[str, Field(max_length=512)]],
    Field(max_length=MAX_LABELS, description=f"At most {MAX_LABELS}; keys up to 128 characters, values up to 512"),
]


class SubscriptionSpec(_Model):
    """A subscription without its id: the body of ``PUT /v1/subscriptions/{id}``."""

    entity_kind: Literal["segment", "measure"] = Field(
        description="What the threshold watches: a segment's member count or a business measure's value"
    )
    entity_id: Id = Field(description="The segment's or measure's id, as its change events carry it")
    threshold: float = Field(description="Fires when the value rises from below to at or above this")
    recovery_threshold: float | None = Field(
        None, description="Re-arms when the value falls below this (default: threshold); must be <= threshold"
    )
    owner: Annotated[str, Field(min_length=1, max_length=320)] = Field(description="Who owns it, e.g. an email")
    labels: Labels = Field(default_factory=dict)

    @model_validator(mode="after")
    def _recovery_not_above(self) -> SubscriptionSpec:
        if self.recovery_threshold is not None and self.recovery_threshold > self.threshold:
            raise ValueError(
                f"recovery_threshold ({self.recovery_threshold}) must not be above threshold ({self.threshold})"
            )
        return self

    @property
    def entity_key(self) -> str:
        return f"{self.entity_kind}/{self.entity_id}"

    @property
    def rearm_below(self) -> float:
        return self.threshold if self.recovery_threshold is None else self.recovery_threshold


class ThresholdSubscription(SubscriptionSpec):
    subscription_id: Id = Field(description="Yours to choose; the same id again replaces that subscription")

    def spec(self) -> SubscriptionSpec:
        return SubscriptionSpec.model_validate(self.model_dump(exclude={"subscription_id"}))


class SubscriptionFile(_Model):
    """The YAML file format: ``subscriptions: [...]``."""

    subscriptions: list[ThresholdSubscription]
