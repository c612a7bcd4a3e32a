from datetime import UTC, datetime

from streams.detection.ordering import RECENT_IDS, Clock, Verdict, admit, from_micros, to_micros


def test_first_event_applies():
    verdict, clock = admit(None, "a", 10, None)
    assert verdict is Verdict.APPLY
    assert clock == Clock(10, None, ("a",))


def test_older_event_is_stale_and_leaves_clock():
    _, clock = admit(None, "a", 10, None)
    verdict, after = admit(clock, "b", 9, None)
    assert verdict is Verdict.STALE
    assert after is clock


def test_equal_time_without_sequence_applies():
    _, clock = admit(None, "a", 10, None)
    verdict, after = admit(clock, "b", 10, None)
    assert verdict is Verdict.APPLY
    assert after.recent_ids == ("a", "b")


def test_equal_time_orders_by_sequence_when_both_have_one():
    _, clock = admit(None, "a", 10, 5)
    assert admit(clock, "b", 10, 4)[0] is Verdict.STALE
    assert admit(clock, "c", 10, 5)[0] is Verdict.APPLY
    assert admit(clock, "d", 10, 6)[0] is Verdict.APPLY
    # a newer time wins whatever the sequence says
    assert admit(clock, "e", 11, 0)[0] is Verdict.APPLY


def test_repeat_of_an_id_is_a_duplicate_even_when_newer():
    _, clock = admit(None, "a", 10, None)
    verdict, after = admit(clock, "a", 99, None)
    assert verdict is Verdict.DUPLICATE
    assert after is clock


def test_recent_ids_are_bounded():
    clock = None
    for i in range(RECENT_IDS + 5):
        _, clock = admit(clock, f"id{i}", i, None)
    assert len(clock.recent_ids) == RECENT_IDS
    assert clock.recent_ids[-1] == f"id{RECENT_IDS + 4}"
    # a forgotten id that repeats is older, hence still ignored (as stale)
    assert admit(clock, "id0", 0, None)[0] is Verdict.STALE


def test_clock_round_trips_through_dict():
    clock = Clock(123, 4, ("x", "y"))
    assert Clock.from_dict(clock.to_dict()) == clock


def test_micros_round_trip_is_exact():
    moment = datetime(2026, 11, 24, 12, 30, 1, 123456, tzinfo=UTC)
    assert from_micros(to_micros(moment)) == moment
