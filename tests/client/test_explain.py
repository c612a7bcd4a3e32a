"""How ``explain`` answers read: the example on 'Why didn't my trigger fire?' is what ``render`` prints for the
state it describes, and each kind has words for an unknown key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schemas.deadletter import DeadLetter, DeadLetterReason
from schemas.explain import ExplainReply
from streams.client.explain import render, target
from streams.detection import thresholds
from streams.detection.ordering import to_micros
from streams.detection.thresholds import Rule
from streams.settings import Settings
from streams.topics import Topics
from tests.support.doc_blocks import code_blocks

PAGE = Path(__file__).resolve().parents[2] / "docs" / "why.md"


def reply(agent: str, key: str, explanation: dict, topic: str, offset: int, dead_letters=None) -> dict:
    return ExplainReply(
        dead_letters=dead_letters,
        request_id="r",
        agent=agent,
        key=key,
        partition=0,
        explanation=explanation,
        applied={topic: offset},
        worker="worker-1",
        answered_at=datetime(2026, 12, 7, 8, 0, 2, tzinfo=UTC),
    ).model_dump(mode="json")


def test_the_pages_example_is_what_explain_prints_for_that_state():
    rule = Rule("vip-1000", 1000.0, 950.0)
    hour = 3600 * 10**6
    at = to_micros(datetime(2026, 12, 7, 7, 0, tzinfo=UTC))
    state = None
    for offset, (event_id, time_us, value) in enumerate(
        (("e-0700", at, 900.0), ("e-0800", at + hour, 1012.0), ("e-0630", at - hour // 2, 1200.0)), start=40
    ):
        state = thresholds.evaluate(state, event_id, time_us, None, value, [rule], offset, keep=10).state
    said = thresholds.explain(state, [rule], "segment/vip")
    letter = DeadLetter(
        id="cdp.segment-changes/0/43",
        reason=DeadLetterReason.SCHEMA,
        error="member_count: Input should be greater than or equal to 0",
        topic="cdp.segment-changes",
        partition=0,
        offset=43,
        dead_lettered_at=datetime(2026, 12, 7, 8, 0, 1, tzinfo=UTC),
        worker="worker-1",
    )
    [example] = [block for block in code_blocks(PAGE, "text") if block.startswith("segment vip")]
    shown = render("segment", "vip", reply("thresholds", "segment/vip", said, "cdp.segment-changes", 44, [letter]))
    assert "\n".join(shown) + "\n" == example


def test_unknown_keys_are_said_in_words():
    for kind, agent in (("run", "runs"), ("data-source", "datasources")):
        shown = render(kind, "x", reply(agent, "x", {"known": False}, "t", 0))
        assert "has seen no event for it" in shown[1], shown
    empty = thresholds.explain(None, [], "measure/m")
    assert "has seen no event" in render("measure", "m", reply("thresholds", "measure/m", empty, "t", 0))[1]


def test_each_kind_names_its_agent_and_the_input_that_places_its_key():
    t = Topics(Settings())
    assert target(t, "segment", "vip") == target(t, "segment", "vip")
    assert (target(t, "measure", "m").agent, target(t, "measure", "m").key) == ("thresholds", "measure/m")
    assert target(t, "run", "r").input_topic == t.runs and target(t, "data-source", "d").agent == "datasources"
