from schemas.events import DataSourceChange
from schemas.triggers import TriggerType
from streams.detection.datasources import RUNS_REMEMBERED, DataSourceState, observe, retrying_failure
from streams.detection.ordering import Verdict
from tests.support import builders as b


def fired(obs):
    """The one trigger an observation fired, or None."""
    assert len(obs.triggers) <= 1
    return obs.triggers[0] if obs.triggers else None


def run(*docs):
    state, out = None, []
    for doc in docs:
        obs = observe(state, DataSourceChange.model_validate(doc))
        if obs.verdict is Verdict.APPLY:
            state = obs.state
        out.append(obs)
    return state, out


def test_final_failure_fires_with_error_and_duration():
    _, (_, obs) = run(b.datasource("crm", "started", 0, run="r1"), b.datasource("crm", "failed", 90, run="r1"))
    assert fired(obs).type is TriggerType.DATA_SOURCE_REFRESH_FAILED
    assert fired(obs).subject == "data-source/crm"
    assert fired(obs).data.error_code == "E_AUTH"
    assert fired(obs).data.duration_seconds == 90
    assert not retrying_failure(DataSourceChange.model_validate(b.datasource("crm", "failed", 90)))


def test_retrying_failure_is_counted_not_fired_and_reported_with_the_outcome():
    docs = [
        b.datasource("crm", "started", 0),
        b.datasource("crm", "failed", 10, will_retry=True),
        b.datasource("crm", "failed", 20, will_retry=True),
        b.datasource("crm", "succeeded", 30, row_count=1200),
    ]
    _, outs = run(*docs)
    assert [fired(o) for o in outs[:3]] == [None, None, None]
    assert [retrying_failure(DataSourceChange.model_validate(d)) for d in docs] == [False, True, True, False]
    done = fired(outs[3])
    assert done.type is TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED
    assert (done.data.retried_failures, done.data.row_count, done.data.duration_seconds) == (2, 1200, 30)


def test_success_without_a_seen_start_has_no_duration():
    _, (obs,) = run(b.datasource("crm", "succeeded", 5))
    assert fired(obs).data.started_at is None and fired(obs).data.duration_seconds is None


def test_started_does_not_fire():
    _, (obs,) = run(b.datasource("crm", "started", 0))
    assert fired(obs) is None and obs.verdict is Verdict.APPLY


def test_stale_outcome_does_not_fire():
    _, outs = run(b.datasource("crm", "succeeded", 10, run="r2"), b.datasource("crm", "failed", 5, run="r1"))
    assert outs[1].verdict is Verdict.STALE and fired(outs[1]) is None


def test_duplicate_event_does_not_fire_twice():
    doc = b.datasource("crm", "succeeded", 10, event_id="same")
    _, outs = run(doc, doc)
    assert fired(outs[0]) is not None
    assert outs[1].verdict is Verdict.DUPLICATE and fired(outs[1]) is None


def test_trigger_id_depends_on_the_causing_event_only():
    a = fired(run(b.datasource("crm", "succeeded", 10, event_id="x"))[1][0])
    again = fired(run(b.datasource("crm", "started", 1), b.datasource("crm", "succeeded", 10, event_id="x"))[1][1])
    other = fired(run(b.datasource("crm", "succeeded", 10, event_id="y"))[1][0])
    assert a.id == again.id != other.id


def test_remembered_runs_are_bounded_and_state_round_trips():
    docs = [b.datasource("crm", "started", i, run=f"r{i}") for i in range(RUNS_REMEMBERED + 4)]
    state, _ = run(*docs)
    assert len(state.runs) == RUNS_REMEMBERED
    assert DataSourceState.from_dict(state.to_dict()) == state


def test_explain_lists_the_remembered_refreshes():
    from streams.detection.datasources import explain

    assert explain(None, "crm") == {"known": False}
    state, out = run(
        b.datasource("crm", "started", 0, run="r1"),
        b.datasource("crm", "failed", 5, run="r1", will_retry=True),
        b.datasource("crm", "started", 6, run="r2"),
        b.datasource("crm", "succeeded", 9, run="r2"),
    )
    said = explain(state, "crm")
    pending = {"outcome": None, "ended_at": None, "event_id": None, "trigger_id": None}
    assert said["runs"][0] == {"refresh_run_id": "r1", "started_at": b.at(0), "retried_failures": 1, **pending}
    # how a refresh ended, with the trigger it fired: the same id the trigger carried
    done = said["runs"][1]
    assert (done["outcome"], done["ended_at"], done["trigger_id"]) == ("succeeded", b.at(9), fired(out[3]).id)
    assert said["event_time"] == b.at(9)
    assert DataSourceState.from_dict(state.to_dict()) == state
    older = {"clock": None, "runs": [["r0", None, 2]]}  # a state written before outcomes were kept
    assert DataSourceState.from_dict(older).runs[0].ended is None
