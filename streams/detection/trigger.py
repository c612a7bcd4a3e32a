"""What the core hands back to the shell: the triggers to publish, and the
one shape every detection rule returns for an input event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from schemas.triggers import TriggerEvent, TriggerType, dataschema_for

from .ordering import Verdict

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Trigger:
    type: TriggerType
    id: str
    subject: str
    time: datetime
    data: BaseModel

    def envelope(self, source: str) -> TriggerEvent:
        """The CloudEvent this trigger is published as (``source``: the emitting engine). The worker writes its
        JSON in one pass (``runtime.codec.encode_trigger``), tested equal to this model's."""
        return TriggerEvent(
            id=self.id,
            source=source,
            type=self.type,
            subject=self.subject,
            time=self.time,
            dataschema=dataschema_for(self.type),
            data=self.data.model_dump(mode="json"),
        )


@dataclass(frozen=True, slots=True)
class Observation(Generic[S]):
    """One input event applied to one entity's state. Unless ``verdict`` is
    APPLY (stale or duplicate), ``state`` is the old one and nothing fires."""

    verdict: Verdict
    state: S
    triggers: tuple[Trigger, ...] = ()
