"""The simulated CDP: deterministic, valid, in time order, and eventful enough
that the demo's subscriptions fire."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from devtools.simulator import SimConfig, Simulation
from schemas.events import DataSourceChange, MeasureChange, RefreshRunStarted, SegmentChange, TaskProgress
from streams.kafka.codec import encode

ORIGIN = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def first(config: SimConfig, seconds: float, origin: datetime = ORIGIN) -> list:
    return list(itertools.takewhile(lambda t: t.at <= seconds, Simulation(config, origin).events()))


def test_same_seed_and_origin_give_the_same_bytes_other_seeds_do_not():
    a = [(t.at, encode(t.event)) for t in first(SimConfig(seed=3), 300)]
    b = [(t.at, encode(t.event)) for t in first(SimConfig(seed=3), 300)]
    c = [(t.at, encode(t.event)) for t in first(SimConfig(seed=4), 300)]
    assert a == b and len(a) > 100
    assert a != c


def test_a_later_run_is_new_data_not_duplicates():
    ids = {t.event.event_id for t in first(SimConfig(), 60)}
    later = {t.event.event_id for t in first(SimConfig(), 60, ORIGIN.replace(hour=9))}
    assert ids.isdisjoint(later)


def test_time_order_and_real_event_times_follow_speed():
    events = first(SimConfig(speed=120), 200)
    offsets = [t.at for t in events]
    assert offsets == sorted(offsets)
    for t in events:
        assert abs((t.event.event_time - ORIGIN).total_seconds() - t.at) < 1e-3


def test_an_entity_story_does_not_depend_on_the_others():
    one = [
        t.event
        for t in first(SimConfig(segments=1, measures=0, data_sources=0), 600)
        if isinstance(t.event, SegmentChange)
    ]
    many = [
        t.event
        for t in first(SimConfig(segments=5), 600)
        if isinstance(t.event, SegmentChange) and t.event.segment_id == "high-value-customers"
    ]
    assert [e.member_count for e in one] == [e.member_count for e in many]


def test_two_minutes_of_demo_hold_every_story_the_triggers_need():
    events = [t.event for t in first(SimConfig(), 120)]
    sources = [e for e in events if isinstance(e, DataSourceChange)]
    assert any(e.status == "failed" and e.failure.will_retry for e in sources)
    assert any(e.status == "failed" and not e.failure.will_retry for e in sources)
    assert any(e.status == "succeeded" for e in sources)
    runs = [e for e in events if isinstance(e, RefreshRunStarted)]
    finished = {
        e.run_id for e in events if isinstance(e, TaskProgress) and e.task.name == "merge" and e.status != "started"
    }
    assert len(runs) >= 5 and len(finished) >= 4
    # The example subscriptions (devtools/data/demo-subscriptions.yaml) fire: rising through 1000 after being below 950,
    # and through 50,000 after being below 48,000.
    vip = [e.member_count for e in events if isinstance(e, SegmentChange) and e.segment_id == "high-value-customers"]
    revenue = [e.value for e in events if isinstance(e, MeasureChange) and e.measure_id == "monthly-revenue"]
    assert _rearmed_crossings(vip, 1000, 950) >= 1
    assert _rearmed_crossings(revenue, 50_000, 48_000) >= 1


def _rearmed_crossings(values: list[float], threshold: float, rearm: float) -> int:
    armed, crossings = False, 0
    for value in values:
        if value < rearm:
            armed = True
        elif armed and value >= threshold:
            crossings, armed = crossings + 1, False
    return crossings


def test_some_runs_hang_for_the_stall_trigger():
    events = [t.event for t in first(SimConfig(stall_probability=0.5), 600)]
    declared = {e.run_id: len(e.tasks) for e in events if isinstance(e, RefreshRunStarted)}
    finished: dict[str, int] = {}
    for e in events:
        if isinstance(e, TaskProgress) and e.status != "started":
            finished[e.run_id] = finished.get(e.run_id, 0) + 1
    last_run = max(declared, key=lambda r: int(r.rsplit("-", 1)[1]))
    hung = [r for r, n in declared.items() if r != last_run and finished.get(r, 0) < n]
    assert hung
