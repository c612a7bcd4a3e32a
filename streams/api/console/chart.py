"""A subscription's recent values as an SVG line chart, drawn on the server (no script): the values in event
time, the threshold and recovery lines, and a ring on each value that fired. Pure: evaluations in, markup out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 40  # margins: the value axis on the left, times below


@dataclass(frozen=True)
class Point:
    at: datetime
    value: float
    outcome: str  # as explain says it: fired, below, waiting, rearmed, baseline, stale, repeat


def svg(points: list[Point], threshold: float, recovery: float, title: str) -> str:
    """The chart; applied values only (stale and repeated ones are not the entity's value)."""
    shown = sorted((p for p in points if p.outcome not in ("stale", "repeat")), key=lambda p: p.at)
    values = [p.value for p in shown] + [threshold, recovery]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.1
    low, high = low - pad, high + pad
    times = [p.at.timestamp() for p in shown] or [0.0]
    first, last = min(times), max(times)
    span = (last - first) or 1.0

    def x(at: datetime) -> float:
        return LEFT + (at.timestamp() - first) / span * (WIDTH - LEFT - RIGHT) if len(shown) > 1 else WIDTH / 2

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
        f'aria-labelledby="chart-title"><title id="chart-title">{escape(title)}</title>',
        _line(threshold, y, "threshold", f"threshold {threshold:g}"),
    ]
    if recovery != threshold:
        parts.append(_line(recovery, y, "recovery", f"recovery {recovery:g}"))
    if shown:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(p.at):.1f},{y(p.value):.1f}" for i, p in enumerate(shown))
        parts.append(f'<path class="values" d="{path}"/>')
        for p in shown:
            label = escape(f"{p.at.isoformat()}: {p.value:g}, {p.outcome}")
            kind = "fired" if p.outcome == "fired" else "value"
            parts.append(
                f'<circle class="{kind}" cx="{x(p.at):.1f}" cy="{y(p.value):.1f}" r="{6 if kind == "fired" else 3}">'
                f"<title>{label}</title></circle>"
            )
        parts.append(_time_label(shown[0].at, LEFT, "start"))
        if len(shown) > 1:
            parts.append(_time_label(shown[-1].at, WIDTH - RIGHT, "end"))
    else:
        parts.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no value yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def _line(value: float, y: Callable[[float], float], kind: str, label: str) -> str:
    at = y(value)
    return (
        f'<line class="{kind}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>'
        f'<text class="{kind}" x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{escape(f"{value:g}")}</text>'
        f"<title>{escape(label)}</title>"
    )


def _time_label(at: datetime, x: float, anchor: str) -> str:
    return (
        f'<text class="time" x="{x:.1f}" y="{HEIGHT - BOTTOM + 20}" text-anchor="{anchor}">'
        f"{escape(at.strftime('%Y-%m-%d %H:%M'))}</text>"
    )
