"""The stuck-commit rule (``streams.runtime.progress``): pure, over plain values."""

from __future__ import annotations

from streams.runtime.progress import stuck_for

TP = ("cdp.segment-changes", 0)


def test_a_partition_committed_up_to_what_was_applied_is_not_stuck():
    state, ages = stuck_for({}, {TP: 10}, {TP: 10}, now=100.0)
    assert ages == {TP: 0.0} and state == {}


def test_behind_counts_from_when_it_fell_behind_and_grows_while_the_commit_stays():
    state, ages = stuck_for({}, {TP: 10}, {TP: 5}, now=100.0)
    assert ages[TP] == 0.0
    state, ages = stuck_for(state, {TP: 12}, {TP: 5}, now=130.0)
    assert ages[TP] == 30.0  # more applied, the commit still at 5: stuck since 100


def test_a_commit_that_moves_restarts_the_clock_although_still_behind():
    state, _ = stuck_for({}, {TP: 10}, {TP: 5}, now=100.0)
    state, ages = stuck_for(state, {TP: 20}, {TP: 9}, now=150.0)
    assert ages[TP] == 0.0
    _, ages = stuck_for(state, {TP: 20}, {TP: 9}, now=161.0)
    assert ages[TP] == 11.0


def test_a_partition_never_committed_is_behind_once_anything_is_applied():
    state, _ = stuck_for({}, {TP: 1}, {TP: None}, now=0.0)
    _, ages = stuck_for(state, {TP: 1}, {}, now=7.0)
    assert ages[TP] == 7.0


def test_catching_up_forgets_the_partition():
    state, _ = stuck_for({}, {TP: 10}, {TP: 5}, now=0.0)
    state, ages = stuck_for(state, {TP: 10}, {TP: 10}, now=1.0)
    assert state == {} and ages[TP] == 0.0
    _, ages = stuck_for(state, {TP: 11}, {TP: 10}, now=50.0)
    assert ages[TP] == 0.0  # behind again: a new clock, not the old one


def test_the_worst_partition_of_each_topic_is_its_figure():
    from streams.runtime.progress import worst_by_topic

    ages = {("a", 0): 3.0, ("a", 1): 7.0, ("b", 0): 0.0}
    assert worst_by_topic(ages) == {"a": 7.0, "b": 0.0}
