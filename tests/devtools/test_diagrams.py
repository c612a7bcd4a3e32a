"""The docs' pictures are drawn from the code: the pipeline's topic names come from the settings and a routing tree
from its routes file, as plain SVG with nothing that runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from devtools.diagrams import pipeline, routing_tree
from schemas.routes import RoutesFile
from streams.settings import Settings
from streams.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    div = ET.fromstring(markup)
    assert div.tag == "div" and len(div) == 1
    svg = div[0]
    tags = {e.tag.removeprefix(SVG) for e in svg.iter()}
    assert not tags & {"script", "foreignObject", "a", "image"}, tags  # nothing runs or loads
    assert not [a for e in svg.iter() for a in e.attrib if a.startswith("on")], "an event handler"
    assert "\n" not in markup  # one line: Markdown keeps it as one raw block
    return svg


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_the_pipeline_shows_the_topics_by_the_names_the_settings_give():
    settings = Settings(topic_prefix="acme.")
    shown = texts(parsed(pipeline(settings)))
    t = Topics(settings)
    drawn = [t.datasources, t.segments, t.measures, t.runs, t.subscriptions, t.hooks, t.actions, t.dead_letter]
    assert all(name in shown for name in [*drawn, t.delivery_dead_letter]), shown
    assert not [s for s in shown if s.startswith("cdp.")]
    assert {"Worker (one or more)", "Dispatcher", "The triggers API", "Receivers"} <= set(shown)


def test_the_routing_tree_shows_each_route_its_match_and_its_receiver():
    routes = RoutesFile.model_validate(yaml.safe_load((ROOT / "examples" / "routes.yaml").read_text()))
    svg = parsed(routing_tree(routes))
    shown = texts(svg)
    assert shown[:2] == ["data-team-channel", "Teams"]
    assert shown[2:6] == ["segment-owners", "email", "automation", "webhook"]
    assert "root route (no receiver)" in shown
    assert "route 1 (continue)" in shown and "route 2 (continue)" in shown and "route 3" in shown
    assert "match: types: datasource.refresh.failed" in shown and "match: everything" in shown
    curves = [p for p in svg.iter(f"{SVG}path") if " C" in p.get("d", "")]
    assert len(curves) == 3  # each child route to its own receiver; the root has none


def test_an_inherited_receiver_is_drawn_dashed():
    routes = RoutesFile.model_validate(
        {
            "receivers": [{"name": "ops", "webhook": {"url": {"env": "U"}}}],
            "route": {"receiver": "ops", "routes": [{"match": {"owners": ["ann@example.com"]}}]},
        }
    )
    svg = parsed(routing_tree(routes))
    classes = [p.get("class") for p in svg.iter(f"{SVG}path") if " C" in p.get("d", "")]
    assert classes == ["edge", "edge soft"]  # the root's own, the child's inherited
    assert "match: owners: ann@example.com" in texts(svg)
