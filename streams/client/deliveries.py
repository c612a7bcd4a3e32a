"""Given-up deliveries: which are still undelivered, and the redeliveries to ask for (pure).

A delivery dead letter says a receiver did not take a trigger event. The dispatcher's delivery records (its
``deliveries`` changelog, keyed ``<trigger id>|<receiver>``) say which it took since: those are not sent again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from schemas.deadletter import DeliveryDeadLetter, DeliveryFailure, Redelivery


def select(
    letters: Iterable[DeliveryDeadLetter],
    ids: Iterable[str] = (),
    receiver: str | None = None,
    reason: DeliveryFailure | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[DeliveryDeadLetter]:
    """Those that pass every filter given, oldest first."""
    wanted = set(ids)
    return sorted(
        (
            d
            for d in letters
            if (not wanted or d.id in wanted)
            and (receiver is None or d.receiver == receiver)
            and (reason is None or d.reason == reason)
            and (since is None or d.dead_lettered_at >= since)
            and (until is None or d.dead_lettered_at < until)
        ),
        key=lambda d: (d.dead_lettered_at, d.id),
    )


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


def outcome(letter: DeliveryDeadLetter, delivered: set[str], newest: DeliveryDeadLetter | None, asked: datetime) -> str:
    """``delivered``, ``failed again: <reason>: <error>`` or ``pending``, for a redelivery asked at ``asked``."""
    if letter.id in delivered:
        return "delivered"
    if newest is not None and newest.dead_lettered_at > asked:
        return f"failed again: {newest.reason.value}: {newest.error}"
    return "pending"
