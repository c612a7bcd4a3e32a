"""What `status` says needs attention (pure): each rule on its own, and nothing when all is well."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.client.status import (
    GroupSample,
    Limits,
    Member,
    OldestUndelivered,
    Probe,
    Snapshot,
    attention,
    render,
    report,
)

MEMBER = Member("worker-0", "10.0.0.7", ("in/0", "in/1"))


def _group(committed: dict[str, int], ends: dict[str, int], members=(MEMBER,), name="cdp-triggers") -> GroupSample:
    return GroupSample(name, "Stable", tuple(members), committed, ends)


def _snapshot(first: GroupSample, second: GroupSample, **changes) -> Snapshot:
    values: dict[str, Any] = dict(
        taken_at=datetime(2026, 12, 3, 8, 0, tzinfo=UTC),
        window_seconds=3600.0,
        sample_seconds=5.0,
        groups=[(first, second)],
        registries={"subscriptions": 3, "hooks": 1, "api keys": 2},
        triggers_by_type={"segment.threshold.crossed": 4},
        dead_letters_by_reason={},
        dead_letters_unreplayed=0,
        deliveries={"hook": {"delivered": 4}},
        undelivered_given_up=0,
        oldest_undelivered=None,
    )
    return Snapshot(**(values | changes))


def test_a_healthy_system_needs_nothing_and_says_ok():
    s = _snapshot(_group({"in/0": 5}, {"in/0": 9}), _group({"in/0": 12}, {"in/0": 12}))
    assert attention(s, Limits()) == []
    lines = render(report(s, []))
    assert lines[-1] == "ok: nothing needs attention" and "  cdp-triggers: stable, 1 members, lag 0" in lines


def test_lag_with_no_members_means_nothing_consumes_it():
    lonely = _group({"in/0": 5}, {"in/0": 9}, members=())
    assert attention(_snapshot(lonely, lonely), Limits()) == ["cdp-triggers: lag 4 and no members: nothing consumes it"]


def test_a_partition_whose_commit_does_not_move_while_it_has_lag_is_stuck():
    first = _group({"in/0": 5, "in/1": 7}, {"in/0": 9, "in/1": 7})
    second = _group({"in/0": 5, "in/1": 7}, {"in/0": 20, "in/1": 8})  # in/1: lag only in the second look
    [found] = attention(_snapshot(first, second), Limits())
    assert found.startswith("cdp-triggers: no progress in 5 s on in/0 (lag 16)")


def test_a_growing_lag_over_the_limit_is_falling_behind_and_under_it_is_not():
    first, second = _group({"in/0": 0}, {"in/0": 500}), _group({"in/0": 100}, {"in/0": 900})
    assert attention(_snapshot(first, second), Limits(max_lag=1000)) == []
    assert attention(_snapshot(first, second), Limits(max_lag=700)) == [
        "cdp-triggers: falling behind, lag 500 -> 800 in 5 s"
    ]


def test_probes_dead_letter_bursts_and_undelivered_deliveries_need_attention():
    calm = _group({"in/0": 1}, {"in/0": 1})
    s = _snapshot(
        calm,
        calm,
        probes=[Probe("http://w0/readyz", True, "ready"), Probe("http://w1/readyz", False, "flush: failed")],
        dead_letters_by_reason={"schema": 11},
        dead_letters_unreplayed=11,
        undelivered_given_up=2,
        oldest_undelivered=OldestUndelivered("actions/3", 41, 75.0),
    )
    found = attention(s, Limits(dead_letter_burst=10))
    assert found == [
        "http://w1/readyz: not ready: flush: failed",
        "11 dead letters in the last hour not replayed (more than 10): 'cdp-triggers dead-letters list'",
        "2 given-up deliveries not delivered since: 'cdp-triggers deliveries list --undelivered'",
    ]
    assert attention(s, Limits(dead_letter_burst=11))[1:] == found[2:]
    text = "\n".join(render(report(s, found)))
    assert "oldest trigger not yet delivered: 1 min 15 s old (actions/3 @ 41)" in text
    assert "probe http://w1/readyz: NOT READY (flush: failed)" in text and "needs attention:" in text
