"""What the core hands back to the shell: the triggers to publish, and the
one shape every detection rule returns for an input event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from schemas.triggers import TriggerType

from .ordering import Verdict

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Trigger:
    type: TriggerType
    id: str
    subject: str
    time: datetime
    data: BaseModel


@dataclass(frozen=True, slots=True)
class Observation(Generic[S]):
    """One input event applied to one entity's state. Unless ``verdict`` is
    APPLY (stale or duplicate), ``state`` is the old one and nothing fires."""

    verdict: Verdict
    state: S
    triggers: tuple[Trigger, ...] = ()
