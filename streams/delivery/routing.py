"""Which receivers a trigger event goes to: a walk of the route tree (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from schemas.routes import Match, Route
from schemas.triggers import TriggerType


@dataclass(frozen=True, slots=True)
class Facts:
    """What routes can match on, taken from one trigger event."""

    type: str  # short name, e.g. "segment.threshold.crossed"
    subject: str
    owner: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    subscription_id: str | None = None

    @classmethod
    def of(cls, event: dict[str, Any]) -> Facts:
        data = event.get("data") or {}
        return cls(
            type=TriggerType(event["type"]).short,
            subject=event["subject"],
            owner=data.get("owner"),
            labels=dict(data.get("labels") or {}),
            subscription_id=data.get("subscription_id"),
        )


def _matches(match: Match, facts: Facts) -> bool:
    if match.types and facts.type not in match.types:
        return False
    if match.subjects and not any(p.match(facts.subject) for p in match.subject_patterns()):
        return False
    if match.owners and facts.owner not in match.owners:
        return False
    return all(facts.labels.get(k) == v for k, v in match.labels.items())


def receivers_for(root: Route, facts: Facts) -> list[str]:
    """Receiver names, in route order, each once. Empty: nobody is told."""
    found: list[str] = []
    _visit(root, facts, root.receiver, found)
    return list(dict.fromkeys(found))


def _visit(route: Route, facts: Facts, inherited: str | None, found: list[str]) -> bool:
    if not _matches(route.match, facts):
        return False
    receiver = route.receiver if route.receiver is not None else inherited
    matched_child = False
    for child in route.routes:
        if _visit(child, facts, receiver, found):
            matched_child = True
            if not child.continue_:
                break
    if not matched_child and receiver is not None:
        found.append(receiver)
    return True
