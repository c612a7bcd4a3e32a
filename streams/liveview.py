"""One readable line per trigger event, for ``tail`` and the demo (rich:
coloured by type on a terminal, plain text otherwise)."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.console import Console
from rich.text import Text

from schemas.triggers import TriggerEvent, TriggerType

T = TriggerType
STYLES = {
    T.DATA_SOURCE_REFRESH_FAILED: "bold red",
    T.DATA_SOURCE_REFRESH_SUCCEEDED: "green",
    T.SEGMENT_THRESHOLD_CROSSED: "bold magenta",
    T.MEASURE_THRESHOLD_CROSSED: "bold magenta",
    T.FULL_REFRESH_COMPLETED: "cyan",
    T.UNIFICATION_REFRESH_COMPLETED: "cyan",
    T.REFRESH_RUN_STALLED: "bold yellow",
}


def detail(event: TriggerEvent) -> str:
    d, kind = event.data, event.type
    if kind is T.DATA_SOURCE_REFRESH_FAILED:
        return f"{d['error_code']}: {d['error_message']}"
    if kind is T.DATA_SOURCE_REFRESH_SUCCEEDED:
        rows = d.get("row_count")
        return f"{rows:,} rows" if rows is not None else "succeeded"
    if kind in (T.SEGMENT_THRESHOLD_CROSSED, T.MEASURE_THRESHOLD_CROSSED):
        return f"{d['previous_value']:,g} → {d['value']:,g} (threshold {d['threshold']:,g}, {d['subscription_id']})"
    if kind is T.FULL_REFRESH_COMPLETED:
        return "all tasks succeeded" if d["succeeded"] else f"failed: {', '.join(d['failed_tasks'])}"
    if kind is T.UNIFICATION_REFRESH_COMPLETED:
        return " ".join(f"{s['name']}={s['status']}" for s in d["steps"])
    return f"pending: {', '.join(d['pending_tasks'])}"


def line(event: TriggerEvent, now: datetime | None = None) -> Text:
    age = ((now or datetime.now(timezone.utc)) - event.time).total_seconds()
    text = Text()
    text.append(event.time.astimezone().strftime("%H:%M:%S "), style="dim")
    text.append(f"{event.type.short:<32}", style=STYLES[event.type])
    text.append(f"{event.subject:<36} ")
    text.append(detail(event))
    text.append(f"  (age {age:.1f}s)", style="dim")
    return text


def console() -> Console:
    # No wrapping or highlighting of numbers: one trigger, one line, its own colours.
    return Console(highlight=False, soft_wrap=True)
