"""Upward threshold crossings with re-arming, for segments and measures.

Per subscription the state is one flag, ``armed``:
- a subscription first met (or whose threshold changed) takes the entity's
  current value as baseline: armed when it is below the threshold; with no
  value yet it waits for the first one, which is only a baseline;
- armed and a value at or above the threshold: fire, disarm;
- disarmed and a value below the recovery threshold: re-arm.
Armed therefore implies the previous value was below the threshold, so a fire
is exactly "previous below, new at or above, not fired since re-arming".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping

from schemas.subscriptions import ThresholdSubscription
from schemas.triggers import ThresholdCrossed, TriggerType

from .emit import Trigger
from .ids import trigger_id
from .ordering import Clock, Verdict, admit


@dataclass(frozen=True, slots=True)
class Rule:
    """What detection needs of a subscription."""

    subscription_id: str
    threshold: float
    rearm_below: float

    @property
    def fingerprint(self) -> str:
        # Editing a subscription's thresholds re-baselines it.
        return f"{self.threshold!r}/{self.rearm_below!r}"


@dataclass(frozen=True, slots=True)
class Arming:
    fingerprint: str
    armed: bool | None  # None: no value seen yet, the next one is the baseline


@dataclass(frozen=True, slots=True)
class EntityState:
    clock: Clock | None = None
    value: float | None = None
    arming: Mapping[str, Arming] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock.to_dict() if self.clock else None,
            "value": self.value,
            "arming": {sid: [a.fingerprint, a.armed] for sid, a in self.arming.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EntityState:
        return cls(
            Clock.from_dict(raw["clock"]) if raw["clock"] else None,
            raw["value"],
            {sid: Arming(fp, armed) for sid, (fp, armed) in raw["arming"].items()},
        )


@dataclass(frozen=True, slots=True)
class Crossing:
    subscription_id: str
    previous: float
    value: float


@dataclass(frozen=True, slots=True)
class Observation:
    verdict: Verdict
    state: EntityState
    crossings: tuple[Crossing, ...] = ()


def observe(
    state: EntityState | None,
    event_id: str,
    time_us: int,
    sequence: int | None,
    value: float,
    rules: Iterable[Rule],
) -> Observation:
    """Apply one value of one entity against that entity's subscriptions.

    Subscriptions absent from ``rules`` are dropped from the state, so removed
    subscriptions leave it at the entity's next event.
    """
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value!r}")  # the schema rejects these first
    state = state or EntityState()
    verdict, clock = admit(state.clock, event_id, time_us, sequence)
    if verdict is not Verdict.APPLY:
        return Observation(verdict, state)

    previous = state.value
    arming: dict[str, Arming] = {}
    crossings = []
    for rule in rules:
        known = state.arming.get(rule.subscription_id)
        if known is None or known.fingerprint != rule.fingerprint:
            armed = None if previous is None else previous < rule.threshold
        else:
            armed = known.armed
        if armed is None:
            armed = value < rule.threshold
        elif armed and value >= rule.threshold:
            crossings.append(Crossing(rule.subscription_id, previous, value))  # type: ignore[arg-type]
            armed = False
        elif not armed and value < rule.rearm_below:
            armed = True
        arming[rule.subscription_id] = Arming(rule.fingerprint, armed)
    return Observation(verdict, EntityState(clock, value, arming), tuple(crossings))


def crossing_trigger(
    crossing: Crossing,
    subscription: ThresholdSubscription,
    entity_name: str,
    event_id: str,
    event_time: datetime,
    run_id: str | None,
) -> Trigger:
    """The trigger event for one crossing; its id is fixed by subscription,
    thresholds, entity and causing event, so a replay repeats the same id."""
    kind = (
        TriggerType.SEGMENT_THRESHOLD_CROSSED
        if subscription.entity_kind == "segment"
        else TriggerType.MEASURE_THRESHOLD_CROSSED
    )
    rule = Rule(subscription.subscription_id, subscription.threshold, subscription.rearm_below)
    return Trigger(
        type=kind,
        id=trigger_id(kind.value, subscription.subscription_id, rule.fingerprint, subscription.entity_key, event_id),
        subject=subscription.entity_key,
        time=event_time,
        data=ThresholdCrossed(
            subscription_id=subscription.subscription_id,
            entity_kind=subscription.entity_kind,
            entity_id=subscription.entity_id,
            entity_name=entity_name,
            threshold=subscription.threshold,
            recovery_threshold=subscription.rearm_below,
            previous_value=crossing.previous,
            value=crossing.value,
            crossed_at=event_time,
            run_id=run_id,
            owner=subscription.owner,
            labels=subscription.labels,
        ),
    )
