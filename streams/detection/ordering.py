"""Which input events to apply: event-time order per entity, duplicates by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RECENT_IDS = 16  # ids remembered per entity; an older repeat is also older in time, so stale


def to_micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def iso(micros: int | None) -> str | None:
    """A time in microseconds as people and JSON read it (explanations)."""
    return None if micros is None else from_micros(micros).isoformat()


class Verdict(Enum):
    APPLY = "apply"
    STALE = "stale"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class Clock:
    """The position of the last event applied to one entity."""

    time_us: int
    sequence: int | None
    recent_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.time_us, "s": self.sequence, "ids": list(self.recent_ids)}

    @staticmethod
    def explained(clock: Clock | None) -> dict[str, Any]:
        """The last applied event, as explanations show it: its time and the recent ids a repeat is known by."""
        return {
            "event_time": None if clock is None else iso(clock.time_us),
            "last_event_ids": [] if clock is None else list(clock.recent_ids),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Clock:
        return cls(raw["t"], raw["s"], tuple(raw["ids"]))


def admit(clock: Clock | None, event_id: str, time_us: int, sequence: int | None) -> tuple[Verdict, Clock | None]:
    """Decide whether an event applies; return the verdict and the clock after it.

    Stale: strictly older than the last applied event, by event time and then,
    when both carry one, by sequence. Equal positions apply (a producer without
    sequences cannot order them, and dropping either would lose data).
    """
    if clock is not None:
        if event_id in clock.recent_ids:
            return Verdict.DUPLICATE, clock
        if time_us < clock.time_us or (
            time_us == clock.time_us
            and sequence is not None
            and clock.sequence is not None
            and sequence < clock.sequence
        ):
            return Verdict.STALE, clock
        recent = (clock.recent_ids + (event_id,))[-RECENT_IDS:]
    else:
        recent = (event_id,)
    return Verdict.APPLY, Clock(time_us, sequence, recent)
