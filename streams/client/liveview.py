"""One readable line per trigger event, for ``tail`` and the demo (rich:
coloured by type on a terminal, plain text otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.text import Text

from schemas.triggers import KINDS, TriggerEvent


def detail(event: TriggerEvent) -> str:
    return KINDS[event.type].describe(event.data).line


def line(event: TriggerEvent, now: datetime | None = None) -> Text:
    age = ((now or datetime.now(UTC)) - event.time).total_seconds()
    text = Text()
    text.append(event.time.astimezone().strftime("%H:%M:%S "), style="dim")
    text.append(f"{event.type.short:<32}", style=KINDS[event.type].style)
    text.append(f"{event.subject:<36} ")
    text.append(detail(event))
    text.append(f"  (age {age:.1f}s)", style="dim")
    return text


def console() -> Console:
    # No wrapping or highlighting of numbers: one trigger, one line, its own colours.
    return Console(highlight=False, soft_wrap=True)
