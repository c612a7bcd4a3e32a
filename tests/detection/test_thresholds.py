import math
from datetime import UTC

import pytest

from schemas.subscriptions import ThresholdSubscription
from schemas.triggers import TriggerType
from streams.detection import ordering
from streams.detection.ordering import Verdict
from streams.detection.thresholds import Crossing, EntityState, Rule, crossing_trigger, evaluate


class Feed:
    """Drives one entity through evaluate() like observe() does."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = list(rules)
        self.state: EntityState | None = None
        self.t = 0

    def __call__(self, value: float, *, t: int | None = None, event_id: str | None = None):
        self.t = self.t + 1 if t is None else t
        obs = evaluate(self.state, event_id or f"e{self.t}-{value}", self.t, None, value, self.rules)
        if obs.verdict is Verdict.APPLY:
            self.state = obs.state
        return obs

    def fired(self, *values: float) -> list[tuple[float, float]]:
        out = []
        for v in values:
            out += [(c.previous, c.value) for c in self(v).crossings]
        return out


def rule(threshold: float, rearm: float | None = None, sid: str = "s1") -> Rule:
    return Rule(sid, threshold, threshold if rearm is None else rearm)


def test_fires_when_previous_below_and_new_at_or_above():
    feed = Feed(rule(100))
    assert feed.fired(50, 99, 100) == [(99, 100)]


def test_first_value_is_only_a_baseline():
    feed = Feed(rule(100))
    assert feed.fired(150) == []
    assert feed.fired(160) == []


def test_equal_to_threshold_counts_as_reaching_it_and_staying_equal_does_not_refire():
    feed = Feed(rule(100))
    assert feed.fired(0, 100, 100, 100) == [(0, 100)]


def test_downward_crossing_does_not_fire():
    feed = Feed(rule(100))
    assert feed.fired(150, 50) == []


def test_default_recovery_rearms_below_threshold():
    feed = Feed(rule(100))
    assert feed.fired(0, 100, 99, 100) == [(0, 100), (99, 100)]


def test_recovery_threshold_suppresses_wobble():
    feed = Feed(rule(100, rearm=90))
    # hovering around 100 fires once; only a fall below 90 re-arms
    assert feed.fired(80, 101, 99, 101, 95, 100, 89, 100) == [(80, 101), (89, 100)]


def test_value_at_recovery_threshold_does_not_rearm():
    feed = Feed(rule(100, rearm=90))
    assert feed.fired(80, 100, 90, 100) == [(80, 100)]


def test_new_subscription_takes_current_value_as_baseline():
    feed = Feed()
    feed(150)
    feed.rules = [rule(100)]
    assert feed.fired(160) == []  # already above when subscribed
    assert feed.fired(50, 120) == [(50, 120)]


def test_new_subscription_below_is_armed_from_current_value():
    feed = Feed()
    feed(50)
    feed.rules = [rule(100)]
    assert feed.fired(100) == [(50, 100)]


def test_changed_threshold_rebaselines():
    feed = Feed(rule(100))
    feed(50)
    feed.rules = [rule(40)]
    # 50 is already above the new threshold: baseline, no fire
    assert feed.fired(60) == []


def test_removed_subscription_leaves_state():
    feed = Feed(rule(100, sid="a"), rule(200, sid="b"))
    feed(10)
    assert set(feed.state.arming) == {"a", "b"}
    feed.rules = [rule(100, sid="a")]
    feed(20)
    assert set(feed.state.arming) == {"a"}


def test_each_subscription_is_independent():
    feed = Feed(rule(100, sid="low"), rule(200, sid="high"))
    obs = feed(50)
    obs = feed(250)
    assert sorted(c.rule.subscription_id for c in obs.crossings) == ["high", "low"]


def test_stale_value_never_crosses_and_does_not_change_state():
    feed = Feed(rule(100))
    feed(50, t=10)
    before = feed.state
    obs = feed(500, t=5)
    assert obs.verdict is Verdict.STALE and obs.crossings == ()
    assert feed.state is before
    assert [(c.previous, c.value) for c in feed(100, t=11).crossings] == [(50, 100)]


def test_duplicate_event_id_is_ignored():
    feed = Feed(rule(100))
    feed(50, event_id="x")
    obs = feed(150, event_id="x")
    assert obs.verdict is Verdict.DUPLICATE and obs.crossings == ()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(ValueError, match="finite"):
        evaluate(None, "e", 1, None, bad, [rule(1)])


def test_negative_measure_values_cross_negative_thresholds():
    feed = Feed(rule(-10))
    assert feed.fired(-50, -10) == [(-50, -10)]


def test_state_round_trips_through_dict():
    feed = Feed(rule(100), rule(5, sid="s2"))
    feed(50)
    feed(150)
    assert EntityState.from_dict(feed.state.to_dict()) == feed.state


def test_crossing_trigger_id_is_deterministic_and_cause_specific():
    from datetime import datetime

    feed = Feed(rule(100))
    crossing = feed(0) and feed(100).crossings[0]
    when = datetime(2026, 1, 1, tzinfo=UTC)
    a = crossing_trigger(crossing, "segment", "vip", "VIP", "evt-1", when, None)
    b = crossing_trigger(crossing, "segment", "vip", "VIP", "evt-1", when, None)
    c = crossing_trigger(crossing, "segment", "vip", "VIP", "evt-2", when, None)
    assert a.id == b.id != c.id
    assert a.type is TriggerType.SEGMENT_THRESHOLD_CROSSED
    assert a.subject == "segment/vip"
    assert a.data.previous_value == 0 and a.data.value == 100 and a.data.recovery_threshold == 100


class Subs:
    """A read-only subscription set, as the registry offers it."""

    def __init__(self, *subs: ThresholdSubscription) -> None:
        self.by_id = {s.subscription_id: s for s in subs}

    def rules_for(self, entity_key: str) -> tuple[Rule, ...]:
        return tuple(Rule.of(s) for s in self.by_id.values() if s.entity_key == entity_key)


def test_observe_turns_each_crossing_into_its_trigger():
    from schemas.events import MeasureChange, SegmentChange
    from streams.detection.thresholds import key, observe
    from tests.support import builders as b

    vip = ThresholdSubscription(
        subscription_id="vip-100", entity_kind="segment", entity_id="vip", threshold=100, owner="o@example.com"
    )
    subs = Subs(vip)
    first = SegmentChange.model_validate(b.segment("vip", 90, 1))
    second = SegmentChange.model_validate(b.segment("vip", 120, 2))
    assert key(first) == "segment/vip"
    assert key(MeasureChange.model_validate(b.measure("ltv", 5.0, 1))) == "measure/ltv"
    obs = observe(None, first, subs)
    assert obs.triggers == ()
    obs = observe(obs.state, second, subs)
    (fired,) = obs.triggers
    assert fired == crossing_trigger(
        Crossing(Rule.of(vip), 90, 120), "segment", "vip", "Segment vip", second.event_id, second.event_time, None
    )
    assert fired.data.owner == "o@example.com"
    # Without rules (the subscription removed) nothing fires.
    assert observe(EntityState(value=90.0), second, Subs()).triggers == ()


def test_a_trigger_keeps_its_id_and_payload_across_versions():
    """Pinned: a replay by a newer worker must repeat a trigger under the id an older one gave it."""
    from datetime import datetime

    sub = ThresholdSubscription(
        subscription_id="s1",
        entity_kind="measure",
        entity_id="ltv/eu",
        threshold=100,
        recovery_threshold=80,
        owner="o@example.com",
        labels={"team": "growth"},
    )
    when = datetime(2026, 1, 1, tzinfo=UTC)
    fired = crossing_trigger(Crossing(Rule.of(sub), 0.0, 100.0), "measure", "ltv/eu", "LTV", "evt-1", when, "run-7")
    assert (fired.id, fired.type, fired.subject) == (
        "e1d480e2-07a2-512c-bb0b-56761bf0a359",
        TriggerType.MEASURE_THRESHOLD_CROSSED,
        "measure/ltv/eu",
    )
    assert fired.data.model_dump(mode="json") == {
        "subscription_id": "s1",
        "entity_kind": "measure",
        "entity_id": "ltv/eu",
        "entity_name": "LTV",
        "threshold": 100.0,
        "recovery_threshold": 80.0,
        "previous_value": 0.0,
        "value": 100.0,
        "crossed_at": "2026-01-01T00:00:00Z",
        "run_id": "run-7",
        "owner": "o@example.com",
        "labels": {"team": "growth"},
    }


def test_explain_says_each_subscriptions_state_and_what_changes_it():
    from streams.detection.thresholds import explain

    rule = Rule("vip", 1000.0, 950.0)
    status = lambda state: [s["status"] for s in explain(state, [rule], "segment/s")["subscriptions"]]  # noqa: E731
    assert status(None) == ["baseline"]
    below = evaluate(None, "e1", 1, None, 900.0, [rule]).state
    assert status(below) == ["armed"] and explain(below, [rule], "segment/s")["value"] == 900.0
    fired = evaluate(below, "e2", 2, None, 1012.0, [rule])
    assert fired.crossings and status(fired.state) == ["waiting"]
    assert "re-arms below 950" in explain(fired.state, [rule], "segment/s")["subscriptions"][0]["why"]
    # a subscription added (or changed) after the latest value: judged from that value, as detection will
    assert status(evaluate(None, "e1", 1, None, 900.0, []).state) == ["armed"]
    assert explain(fired.state, [Rule("vip", 2000.0, 1500.0)], "segment/s")["subscriptions"][0]["status"] == "armed"
    assert explain(fired.state, [], "segment/s")["last_event_ids"] == ["e1", "e2"]


def test_history_notes_every_outcome_and_ignored_event_with_its_offset():
    from streams.detection.thresholds import explain

    rule = Rule("vip", 1000.0, 950.0)
    state, offset = None, 100
    triggers = []
    for event_id, t, value in (
        ("e1", 10, 1100.0),  # baseline
        ("e2", 20, 900.0),  # re-armed (the baseline was at or above)
        ("e3", 30, 920.0),  # below
        ("e4", 40, 1012.0),  # fired
        ("e5", 50, 990.0),  # waiting
        ("e4", 60, 1012.0),  # a repeat of e4's id
        ("e6", 35, 5.0),  # older than e5: stale
    ):
        found = evaluate(state, event_id, t, None, value, [rule], offset, keep=10)
        triggers += [
            crossing_trigger(c, "segment", "s", "S", event_id, ordering.from_micros(t), None) for c in found.crossings
        ]
        state, offset = found.state, offset + 1
    said = explain(state, [rule], "segment/s")["subscriptions"][0]
    seen = [(e["event_id"], e["offset"], e["outcome"]) for e in said["evaluations"]]
    assert seen == [
        ("e6", 106, "stale"),
        ("e4", 105, "repeat"),
        ("e5", 104, "waiting"),
        ("e4", 103, "fired"),
        ("e3", 102, "below"),
        ("e2", 101, "rearmed"),
        ("e1", 100, "baseline"),
    ]
    [fire] = triggers
    assert said["last_trigger"] == {"id": fire.id, "event_id": "e4", "event_time": ordering.iso(40), "value": 1012.0}
    assert said["since"] == {"event_id": "e4", "event_time": ordering.iso(40)}  # disarmed by the fire
    assert EntityState.from_dict(state.to_dict()) == state


def test_a_replayed_message_is_not_noted_twice_and_the_history_is_bounded():
    rule = Rule("vip", 1000.0, 950.0)
    first = evaluate(None, "e1", 1, None, 900.0, [rule], 7, keep=3).state
    # the same message again after a restart (its state was written, its offset not committed): a repeat by id,
    # but it is at an offset the history holds, so it is not invented as a second evaluation
    again = evaluate(first, "e1", 1, None, 900.0, [rule], 7, keep=3)
    assert again.verdict is Verdict.DUPLICATE and again.state is first
    # a genuine repeat, a later message with the same event id, is noted
    assert len(evaluate(first, "e1", 1, None, 900.0, [rule], 8, keep=3).state.history) == 2
    state = first
    for n in range(2, 8):
        state = evaluate(state, f"e{n}", n, None, 900.0, [rule], 6 + n, keep=3).state
    assert [entry.split("\n")[1] for entry in state.history] == ["e5", "e6", "e7"]
    assert evaluate(state, "e8", 8, None, 900.0, [rule], 20, keep=0).state.history == ()
    # without a history nothing changes for an ignored event
    assert evaluate(state, "e1", 1, None, 900.0, [rule], 21, keep=0).state is state


def test_states_written_before_the_history_are_read():
    older = {"clock": None, "value": 5.0, "arming": {"vip": ["1000.0/950.0", True]}}
    state = EntityState.from_dict(older)
    assert state.arming["vip"].armed is True and state.arming["vip"].since is None and state.history == ()
