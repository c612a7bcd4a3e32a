"""The subscription chart (pure): values in event time, the threshold and recovery lines, a ring per fire, the
ignored events left out, and text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from streams.api.console.chart import Point, svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def points(*pairs: tuple[float, str]) -> list[Point]:
    return [Point(T0 + timedelta(hours=i), value, outcome) for i, (value, outcome) in enumerate(pairs)]


def test_the_chart_draws_each_applied_value_the_lines_and_a_ring_per_fire():
    drawn = ET.fromstring(
        svg(points((900, "baseline"), (1012, "fired"), (5, "stale"), (990, "waiting")), 1000, 950, "vip <&>")
    )
    circles = drawn.findall(f"{SVG}circle")
    assert [c.get("class") for c in circles] == ["value", "fired", "value"]  # the stale value is not the entity's
    fired = circles[1]
    threshold = next(line for line in drawn.findall(f"{SVG}line") if line.get("class") == "threshold")
    recovery = next(line for line in drawn.findall(f"{SVG}line") if line.get("class") == "recovery")
    # y grows downwards: the fired value is above the threshold line, the recovery line below it
    assert float(fired.get("cy")) < float(threshold.get("y1")) < float(recovery.get("y1"))
    xs = [float(c.get("cx")) for c in circles]
    assert xs == sorted(xs)  # in event time
    assert drawn.find(f"{SVG}title").text == "vip <&>"  # escaped in the markup, read back as written


def test_a_chart_without_values_says_so_and_one_without_recovery_draws_one_line():
    drawn = ET.fromstring(svg([], 100, 100, "empty"))
    assert [t.text for t in drawn.findall(f"{SVG}text") if t.get("class") == "empty"] == ["no value yet"]
    assert [line.get("class") for line in drawn.findall(f"{SVG}line")] == ["threshold"]
    single = ET.fromstring(svg(points((50, "below")), 100, 100, "one"))
    assert len(single.findall(f"{SVG}circle")) == 1
