"""Upward threshold crossings with re-arming, for segments and measures.

Per subscription the state is one flag, ``armed``:
- a subscription first met (or whose threshold changed) takes the entity's
  current value as baseline: armed when it is below the threshold; with no
  value yet it waits for the first one, which is only a baseline;
- armed and a value at or above the threshold: fire, disarm;
- disarmed and a value below the recovery threshold: re-arm.
Armed therefore implies the previous value was below the threshold, so a fire
is exactly "previous below, new at or above, not fired since re-arming".

For people (``explain``), the state also keeps what it cannot be rebuilt from:
per subscription the event its arming dates from and its last fire, and per
entity its last evaluations (a bounded history, ignored events included).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from schemas.events import MeasureChange, SegmentChange
from schemas.subscriptions import ThresholdSubscription
from schemas.triggers import ThresholdCrossed, TriggerType

from .ids import trigger_id
from .ordering import Clock, Verdict, admit, iso, to_micros
from .trigger import Observation, Trigger


@dataclass(frozen=True, slots=True)
class Rule:
    """What detection needs of a subscription: its thresholds, and what its trigger carries (so that a
    crossing reads nothing more than the entity's rules)."""

    subscription_id: str
    threshold: float
    rearm_below: float
    owner: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    # Editing a subscription's thresholds re-baselines it. Computed once, as it is compared per event, and
    # interned: a million rules share the few distinct threshold pairs.
    fingerprint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", sys.intern(f"{self.threshold!r}/{self.rearm_below!r}"))

    @classmethod
    def of(cls, subscription: ThresholdSubscription) -> Rule:
        return cls(
            subscription.subscription_id,
            subscription.threshold,
            subscription.rearm_below,
            subscription.owner,
            tuple(subscription.labels.items()),
        )


@dataclass(frozen=True, slots=True)
class Arming:
    fingerprint: str
    armed: bool | None  # None: no value seen yet, the next one is the baseline
    since: tuple[str, int] | None = None  # (event id, event time µs) that set ``armed``
    fired: tuple[str, int, float] | None = None  # the last fire: (event id, event time µs, value)

    @classmethod
    def from_json(cls, raw: list[Any]) -> Arming:
        since, fired = (raw[2], raw[3]) if len(raw) > 2 else (None, None)  # older states: [fingerprint, armed]
        return cls(
            raw[0],
            raw[1],
            None if since is None else (since[0], since[1]),
            None if fired is None else (fired[0], fired[1], fired[2]),
        )


# What one event did to one subscription, as its history keeps it (one letter: a history holds many)
OUTCOMES = {
    "b": ("baseline", "the first value it saw; a baseline never fires"),
    "f": ("fired", "from below the threshold to at or above it"),
    "u": ("below", "below the threshold; armed"),
    "w": ("waiting", "not below the recovery threshold; cannot fire until re-armed"),
    "r": ("rearmed", "below the recovery threshold; fires on the next crossing"),
}
IGNORED = {Verdict.STALE: "stale", Verdict.DUPLICATE: "repeat"}
IGNORED_WHY = {
    "stale": "ignored: older than the latest applied event",
    "repeat": "ignored: this event id was applied already",
}
# One evaluation, as stored: one string of lines "input offset, event id, event time µs, value", then per
# subscription its id and the letter of its outcome (OUTCOMES), or, for an event not applied, "stale" or
# "repeat". Ids cannot hold a line break (schemas.events.Id). One string, not a list of values: a history is
# read and written with its state on every event and decoded only to be explained, and a string costs a
# quarter of the memory (benchmarks/state_memory.py).
Evaluated = str
SEP = "\n"


@dataclass(frozen=True, slots=True)
class EntityState:
    clock: Clock | None = None
    value: float | None = None
    arming: Mapping[str, Arming] = field(default_factory=dict)
    history: tuple[Evaluated, ...] = ()  # the last evaluations, oldest first
    noted_to: int | None = None  # the input offset of the last one (kept apart: it is compared per event)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock.to_dict() if self.clock else None,
            "value": self.value,
            "arming": {sid: [a.fingerprint, a.armed, a.since, a.fired] for sid, a in self.arming.items()},
            "history": self.history,  # orjson writes a tuple as an array
            "noted_to": self.noted_to,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EntityState:
        return cls(
            Clock.from_dict(raw["clock"]) if raw["clock"] else None,
            raw["value"],
            {sid: Arming.from_json(a) for sid, a in raw["arming"].items()},
            tuple(raw.get("history", ())),
            raw.get("noted_to"),
        )

    def noted(self, entry: Evaluated, keep: int) -> tuple[Evaluated, ...]:
        """The history with ``entry`` added, at most ``keep`` long."""
        return (self.history + (entry,))[-keep:] if keep > 0 else ()

    def recorded(self, offset: int | None) -> bool:
        """Whether the history already holds the input message at ``offset``: a replay after a restart (the
        state was written before its offset was committed) must not be noted again, as a repeat."""
        return offset is not None and self.noted_to is not None and offset <= self.noted_to


@dataclass(frozen=True, slots=True)
class Crossing:
    rule: Rule
    previous: float
    value: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    verdict: Verdict
    state: EntityState
    crossings: tuple[Crossing, ...] = ()


class Subscriptions(Protocol):
    """The subscriptions detection reads: the rules of an entity."""

    def rules_for(self, entity_key: str) -> tuple[Rule, ...]: ...


def key(event: SegmentChange | MeasureChange) -> str:
    """State key of the entity: ``segment/<id>`` or ``measure/<id>`` (one table holds both kinds)."""
    return f"segment/{event.segment_id}" if isinstance(event, SegmentChange) else f"measure/{event.measure_id}"


def observe(
    state: EntityState | None,
    event: SegmentChange | MeasureChange,
    subscriptions: Subscriptions,
    offset: int | None = None,
    keep: int = 0,
) -> Observation[EntityState]:
    """One value of one entity against that entity's subscriptions, with the trigger of each crossing;
    ``offset``: the input message's, ``keep``: how many evaluations the history keeps."""
    kind: Literal["segment", "measure"]
    if isinstance(event, SegmentChange):
        kind, entity_id, name, value = "segment", event.segment_id, event.segment_name, float(event.member_count)
    else:
        kind, entity_id, name, value = "measure", event.measure_id, event.measure_name, event.value
    found = evaluate(
        state,
        event.event_id,
        to_micros(event.event_time),
        event.sequence,
        value,
        subscriptions.rules_for(key(event)),
        offset,
        keep,
    )
    triggers = tuple(
        crossing_trigger(crossing, kind, entity_id, name, event.event_id, event.event_time, event.run_id)
        for crossing in found.crossings
    )
    return Observation(found.verdict, found.state, triggers)


def evaluate(
    state: EntityState | None,
    event_id: str,
    time_us: int,
    sequence: int | None,
    value: float,
    rules: Iterable[Rule],
    offset: int | None = None,
    keep: int = 0,
) -> Evaluation:
    """Apply one value of one entity against that entity's subscriptions.

    Subscriptions absent from ``rules`` are dropped from the state, so removed
    subscriptions leave it at the entity's next event. With ``keep`` > 0 the
    state's history notes this evaluation, an ignored (stale or repeated) event
    too: the state then changes although the verdict is not APPLY.
    """
    if not math.isfinite(value):
        raise ValueError(f"value must be finite, got {value!r}")  # the schema rejects these first
    state = state or EntityState()
    verdict, clock = admit(state.clock, event_id, time_us, sequence)
    noting = keep > 0 and not state.recorded(offset)
    if verdict is not Verdict.APPLY:
        if not noting:
            return Evaluation(verdict, state)
        entry = f"{_at(offset)}{SEP}{event_id}{SEP}{time_us}{SEP}{value!r}{SEP}{IGNORED[verdict]}"
        return Evaluation(verdict, replace(state, history=state.noted(entry, keep), noted_to=offset))

    previous = state.value
    before = state.arming
    arming: dict[str, Arming] = {}
    outcomes = ""  # per subscription: SEP, its id, SEP, its outcome's letter
    crossings = []
    for rule in rules:
        known = before.get(rule.subscription_id)
        if known is None or known.fingerprint != rule.fingerprint:
            known = None
            armed = None if previous is None else previous < rule.threshold
        else:
            armed = known.armed
        fired = None if known is None else known.fired
        if armed is None:
            armed, outcome = value < rule.threshold, "b"
        elif armed and value >= rule.threshold:
            crossings.append(Crossing(rule, previous, value))  # type: ignore[arg-type]  # previous: set once armed
            armed, outcome, fired = False, "f", (event_id, time_us, value)
        elif armed:
            outcome = "u"
        elif value < rule.rearm_below:
            armed, outcome = True, "r"
        else:
            outcome = "w"
        if keep > 0:
            outcomes += f"{SEP}{rule.subscription_id}{SEP}{outcome}"
        # most values change no subscription's arming: keep its (immutable) record
        arming[rule.subscription_id] = (
            known
            if known is not None and known.armed == armed
            else Arming(rule.fingerprint, armed, (event_id, time_us), fired)
        )
    if noting:
        history = state.noted(f"{_at(offset)}{SEP}{event_id}{SEP}{time_us}{SEP}{value!r}{outcomes}", keep)
        noted_to = offset
    else:  # a replayed message, or no history kept (any held before the setting changed is dropped)
        history, noted_to = (state.history[-keep:], state.noted_to) if keep > 0 else ((), None)
    return Evaluation(verdict, EntityState(clock, value, arming, history, noted_to), tuple(crossings))


def crossing_trigger(
    crossing: Crossing,
    entity_kind: Literal["segment", "measure"],
    entity_id: str,
    entity_name: str,
    event_id: str,
    event_time: datetime,
    run_id: str | None,
) -> Trigger:
    """The trigger event for one crossing; its id is fixed by subscription,
    thresholds, entity and causing event, so a replay repeats the same id."""
    kind = TriggerType.SEGMENT_THRESHOLD_CROSSED if entity_kind == "segment" else TriggerType.MEASURE_THRESHOLD_CROSSED
    rule, entity_key = crossing.rule, f"{entity_kind}/{entity_id}"
    return Trigger(
        type=kind,
        id=trigger_id(kind.value, rule.subscription_id, rule.fingerprint, entity_key, event_id),
        subject=entity_key,
        time=event_time,
        data=ThresholdCrossed(
            subscription_id=rule.subscription_id,
            entity_kind=entity_kind,
            entity_id=entity_id,
            entity_name=entity_name,
            threshold=rule.threshold,
            recovery_threshold=rule.rearm_below,
            previous_value=crossing.previous,
            value=crossing.value,
            crossed_at=event_time,
            run_id=run_id,
            owner=rule.owner,
            labels=dict(rule.labels),
        ),
    )


def explain(state: EntityState | None, rules: Iterable[Rule], entity_key: str) -> dict[str, Any]:
    """What an entity's state says, for people: its latest value and event, its last evaluations, and per
    subscription whether it is armed, waiting to re-arm or waiting for a baseline (since which event), its last
    trigger, what each recent value did to it, and what would change it."""
    state = state or EntityState()
    kind = (
        TriggerType.SEGMENT_THRESHOLD_CROSSED
        if entity_key.startswith("segment/")
        else TriggerType.MEASURE_THRESHOLD_CROSSED
    )
    subscriptions = []
    for rule in rules:
        known = state.arming.get(rule.subscription_id)
        if known is not None and known.fingerprint != rule.fingerprint:
            known = None  # its thresholds changed: judged from the latest value, as a new subscription
        armed = known.armed if known is not None else None if state.value is None else state.value < rule.threshold
        if armed is None:
            status, why = "baseline", "no value yet: the first value is its baseline, which never fires"
        elif armed:
            status, why = "armed", f"fires when a value reaches {rule.threshold:g} or more"
        else:
            status = "waiting"
            why = (
                f"the value reached {rule.threshold:g} (it fired, or was there already); "
                f"re-arms below {rule.rearm_below:g}"
            )
        since = None if known is None or known.since is None else known.since
        fired = None if known is None else known.fired
        subscriptions.append(
            {
                "subscription_id": rule.subscription_id,
                "threshold": rule.threshold,
                "recovery_threshold": rule.rearm_below,
                "status": status,
                "why": why,
                "since": None if since is None else {"event_id": since[0], "event_time": iso(since[1])},
                "last_trigger": None
                if fired is None
                else {
                    "id": trigger_id(kind.value, rule.subscription_id, rule.fingerprint, entity_key, fired[0]),
                    "event_id": fired[0],
                    "event_time": iso(fired[1]),
                    "value": fired[2],
                },
                "evaluations": [
                    evaluation
                    for entry in reversed(state.history)
                    if (evaluation := _evaluation(entry, rule.subscription_id)) is not None
                ],
            }
        )
    return {
        "value": state.value,
        **Clock.explained(state.clock),
        "evaluations": len(state.history),
        "subscriptions": subscriptions,
    }


def _at(offset: int | None) -> str:
    return "" if offset is None else str(offset)


def _evaluation(entry: Evaluated, subscription_id: str) -> dict[str, Any] | None:
    """One history entry as one subscription saw it (newest first in explanations); None: before it existed."""
    offset, event_id, time_us, value, *outcomes = entry.split(SEP)
    if len(outcomes) == 1:
        code, said = outcomes[0], IGNORED_WHY[outcomes[0]]
    else:
        letters = dict(zip(outcomes[::2], outcomes[1::2], strict=True))
        if subscription_id not in letters:
            return None
        code, said = OUTCOMES[letters[subscription_id]]
    return {
        "offset": int(offset) if offset else None,
        "event_id": event_id,
        "event_time": iso(int(time_us)),
        "value": float(value),
        "outcome": code,
        "why": said,
    }
