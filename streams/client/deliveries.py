"""Given-up deliveries: which are still undelivered, and the redeliveries to ask for (pure).

A delivery dead letter says a receiver did not take a trigger event. The dispatcher's delivery records (its
``deliveries`` changelog, keyed ``<trigger id>|<receiver>``) say which it took since: those are not sent again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from schemas.deadletter import DeliveryAttempt, DeliveryDeadLetter, DeliveryFailure, Redelivery
from schemas.triggers import TriggerType


@dataclass(frozen=True)
class Choice:
    """Which given-up deliveries: those with these ids, and passing every filter given."""

    ids: tuple[str, ...] = ()
    receiver: str | None = None
    reason: DeliveryFailure | None = None
    since: datetime | None = None
    until: datetime | None = None
    trigger_type: TriggerType | None = None

    def filters(self) -> bool:
        return any(f is not None for f in (self.receiver, self.reason, self.since, self.until, self.trigger_type))


class ChoiceError(ValueError):
    """A redelivery that chose nothing, or named a delivery that was not given up."""


def select(letters: Iterable[DeliveryDeadLetter], choice: Choice = Choice()) -> list[DeliveryDeadLetter]:
    """Those ``choice`` takes, oldest first."""
    wanted = set(choice.ids)
    return sorted(
        (
            d
            for d in letters
            if (not wanted or d.id in wanted)
            and (choice.receiver is None or d.receiver == choice.receiver)
            and (choice.reason is None or d.reason == choice.reason)
            and (choice.since is None or d.dead_lettered_at >= choice.since)
            and (choice.until is None or d.dead_lettered_at < choice.until)
            and (choice.trigger_type is None or d.event.get("type") == choice.trigger_type.value)
        ),
        key=lambda d: (d.dead_lettered_at, d.id),
    )


def choose(letters: Iterable[DeliveryDeadLetter], choice: Choice) -> list[DeliveryDeadLetter]:
    """What a redelivery takes: something must be chosen, and every id named must exist."""
    if not choice.ids and not choice.filters():
        raise ChoiceError("choose what to redeliver: ids, a receiver, a reason, a trigger type or a time range")
    chosen = select(letters, choice)
    missing = sorted(set(choice.ids) - {d.id for d in chosen})
    if missing:
        raise ChoiceError(f"no such given-up delivery: {', '.join(missing)}")
    return chosen


@dataclass(frozen=True)
class Plan:
    """What ``redeliver`` publishes (key: the trigger's subject), and what it leaves because it was delivered."""

    requests: list[tuple[bytes, Redelivery]]
    delivered: list[DeliveryDeadLetter]


def plan(chosen: list[DeliveryDeadLetter], delivered: set[str], by: str, at: datetime) -> Plan:
    requests, done = [], []
    for d in chosen:
        if d.id in delivered:
            done.append(d)
            continue
        request = Redelivery(delivery_dead_letter_id=d.id, receiver=d.receiver, event=d.event, requested_by=by,
                             requested_at=at)  # fmt: skip
        requests.append((str(d.event["subject"]).encode(), request))
    return Plan(requests, done)


def outcome(delivery_id: str, delivered: set[str], newest: DeliveryDeadLetter | None, asked: datetime) -> str:
    """``delivered``, ``failed again: <reason>: <error>`` or ``pending``, for a redelivery asked at ``asked``."""
    if delivery_id in delivered:
        return "delivered"
    if newest is not None and newest.dead_lettered_at > asked:
        return f"failed again: {newest.reason.value}: {newest.error}"
    return "pending"


def receiver_health(attempts: Iterable[DeliveryAttempt]) -> dict[str, dict[str, int]]:
    """Per receiver: deliveries that succeeded, attempts that will be retried, deliveries given up (refused, or
    failed on their last attempt)."""
    found: dict[str, dict[str, int]] = {}
    for a in attempts:
        counts = found.setdefault(a.receiver, {"delivered": 0, "retried": 0, "given_up": 0})
        if a.outcome == "delivered":
            counts["delivered"] += 1
        elif a.outcome == "retry" and a.next_attempt_at is not None:
            counts["retried"] += 1
        else:
            counts["given_up"] += 1
    return found


def standing(attempts: Iterable[DeliveryAttempt]) -> dict[str, str]:
    """Per receiver, where a trigger's delivery stands after its latest attempt, in words (what a flow owner sees;
    the receivers' answers are an operator's)."""
    latest: dict[str, DeliveryAttempt] = {}
    for a in attempts:
        if a.receiver not in latest or a.at >= latest[a.receiver].at:
            latest[a.receiver] = a
    return {
        r: "delivered"
        if a.outcome == "delivered"
        else f"retrying (attempt {a.attempt} failed)"
        if a.next_attempt_at is not None
        else "given up"
        for r, a in sorted(latest.items())
    }


def attempt_line(a: DeliveryAttempt) -> str:
    then = f", next at {a.next_attempt_at:%H:%M:%S}" if a.next_attempt_at else ""
    return (
        f"{a.at:%Y-%m-%d %H:%M:%S} {a.receiver} {a.trigger_type} {a.trigger_id} attempt {a.attempt}: "
        f"{a.outcome} ({a.result}, {a.latency_seconds * 1000:.0f} ms) {a.detail}{then}"
    )
