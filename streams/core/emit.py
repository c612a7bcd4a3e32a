"""What the core asks the shell to publish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from schemas.triggers import TriggerType


@dataclass(frozen=True, slots=True)
class Trigger:
    type: TriggerType
    id: str
    subject: str
    time: datetime
    data: BaseModel
