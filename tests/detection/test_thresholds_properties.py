"""The incremental crossing logic against a reference written from the spec:
fire at i when v[i-1] < T <= v[i] and, since the last disarm (a fire, or a
first value already at or above T), some value fell below the recovery R."""

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.detection.thresholds import Rule, evaluate

values = st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=40)


def reference(vs: list[int], threshold: float, rearm: float) -> list[int]:
    fires = []
    last_disarm = 0 if vs[0] >= threshold else None
    for i in range(1, len(vs)):
        if not (vs[i - 1] < threshold <= vs[i]):
            continue
        rearmed = last_disarm is None or any(vs[k] < rearm for k in range(last_disarm + 1, i))
        if rearmed:
            fires.append(i)
            last_disarm = i
    return fires


def incremental(vs: list[int], threshold: float, rearm: float) -> list[int]:
    rules = [Rule("s", threshold, rearm)]
    state, fires = None, []
    for i, v in enumerate(vs):
        obs = evaluate(state, f"e{i}", i, None, float(v), rules)
        state = obs.state
        if obs.crossings:
            fires.append(i)
    return fires


@settings(max_examples=400, deadline=None)
@given(values, st.integers(0, 12), st.integers(0, 12))
def test_matches_reference_with_recovery(vs, threshold, gap):
    rearm = threshold - gap
    assert incremental(vs, threshold, rearm) == reference(vs, threshold, rearm)


@settings(max_examples=400, deadline=None)
@given(values, st.integers(0, 12))
def test_default_recovery_fires_on_every_upward_crossing(vs, threshold):
    expected = [i for i in range(1, len(vs)) if vs[i - 1] < threshold <= vs[i]]
    assert incremental(vs, threshold, threshold) == expected


@settings(max_examples=200, deadline=None)
@given(values, st.integers(0, 12), st.integers(0, 12), st.integers(0, 39))
def test_subscribing_late_uses_value_at_subscription_as_baseline(vs, threshold, gap, join):
    """A subscription added after event ``join`` behaves as if the values
    started at the one current when it was added."""
    rearm = threshold - gap
    join = min(join, len(vs) - 1)
    rules = [Rule("s", threshold, rearm)]
    state, fires = None, []
    for i, v in enumerate(vs):
        obs = evaluate(state, f"e{i}", i, None, float(v), rules if i > join else [])
        state = obs.state
        fires += [i] * len(obs.crossings)
    assert fires == [join + i for i in reference(vs[join:], threshold, rearm)]
