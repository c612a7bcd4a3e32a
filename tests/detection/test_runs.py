from pydantic import TypeAdapter

from schemas.events import RefreshRunChange
from schemas.triggers import TriggerType
from streams.detection.ordering import Verdict, to_micros
from streams.detection.runs import STALLED, RunState, needs_tick, observe, tick
from tests.support import builders as b

ADAPTER = TypeAdapter(RefreshRunChange)
TASKS = [
    ("data_source", "crm"),
    ("unification", "map"),
    ("unification", "match"),
    ("unification", "merge"),
    ("segment", "vip"),
]
S = 1_000_000  # microseconds per second
T0 = to_micros(b.T0)


def feed(*docs, state=None):
    triggers, verdicts = [], []
    for doc in docs:
        obs = observe(state, ADAPTER.validate_python(doc))
        verdicts.append(obs.verdict)
        if obs.verdict is Verdict.APPLY:
            state = obs.state
        triggers += obs.triggers
    return state, triggers, verdicts


def whole_run(final=("succeeded",) * 5):
    docs = [b.run_started("r1", TASKS, 0)]
    for i, ((kind, name), status) in enumerate(zip(TASKS, final, strict=True)):
        docs += [b.task("r1", kind, name, "started", 10 * i + 1), b.task("r1", kind, name, status, 10 * i + 5)]
    return docs


def test_full_refresh_completes_when_every_declared_task_is_final():
    state, triggers, _ = feed(*whole_run())
    types = [t.type for t in triggers]
    assert types == [TriggerType.UNIFICATION_REFRESH_COMPLETED, TriggerType.FULL_REFRESH_COMPLETED]
    full = triggers[1].data
    assert full.succeeded and full.failed_tasks == [] and full.duration_seconds == 45
    assert [t.duration_seconds for t in full.tasks] == [4, 4, 4, 4, 4]
    assert state.finished


def test_full_refresh_reports_failed_and_skipped_tasks():
    _, triggers, _ = feed(*whole_run(("failed", "succeeded", "succeeded", "succeeded", "skipped")))
    full = triggers[-1].data
    assert not full.succeeded
    assert full.failed_tasks == ["data_source:crm"] and full.skipped_tasks == ["segment:vip"]


def test_no_full_completion_without_declared_tasks():
    docs = [d for d in whole_run() if d["kind"] == "task_progress"]
    state, triggers, _ = feed(*docs)
    assert [t.type for t in triggers] == [TriggerType.UNIFICATION_REFRESH_COMPLETED]
    assert state.declared is None


def test_unification_needs_all_three_steps_and_carries_outcomes():
    _, triggers, _ = feed(
        b.task("r1", "unification", "map", "succeeded", 1),
        b.task("r1", "unification", "match", "failed", 2),
    )
    assert triggers == []
    _, triggers, _ = feed(
        b.task("r1", "unification", "map", "succeeded", 1),
        b.task("r1", "unification", "match", "failed", 2),
        b.task("r1", "unification", "merge", "skipped", 3),
    )
    (unif,) = triggers
    assert not unif.data.succeeded
    assert [(s.name, s.status) for s in unif.data.steps] == [
        ("map", "succeeded"),
        ("match", "failed"),
        ("merge", "skipped"),
    ]


def test_each_completion_fires_once_even_when_events_repeat_with_new_ids():
    docs = whole_run()
    extra = [b.task("r1", "unification", "merge", "succeeded", 100), b.task("r1", "segment", "vip", "succeeded", 101)]
    _, triggers, _ = feed(*docs, *extra)
    assert len(triggers) == 2


def test_tasks_progress_concurrently_so_order_is_per_task():
    # merge's start is older than map's success: still applies (another task)
    state, _, verdicts = feed(
        b.run_started("r1", TASKS, 0),
        b.task("r1", "unification", "map", "succeeded", 20),
        b.task("r1", "unification", "merge", "started", 10),
        b.task("r1", "unification", "map", "started", 5),  # older than map's success: stale
    )
    assert verdicts == [Verdict.APPLY, Verdict.APPLY, Verdict.APPLY, Verdict.STALE]
    assert state.tasks["unification:map"].status == "succeeded"


def test_repeated_run_start_does_not_redeclare():
    state, _, _ = feed(b.run_started("r1", TASKS, 0), b.run_started("r1", TASKS[:1], 1))
    assert len(state.declared) == len(TASKS)


def test_stalled_fires_once_after_the_configured_time():
    state, _, _ = feed(*whole_run()[:3])
    assert tick(state, T0 + 59 * S, 60 * S, 3600 * S).triggers == ()
    first = tick(state, T0 + 61 * S, 60 * S, 3600 * S)
    (stalled,) = first.triggers
    assert stalled.type is TriggerType.REFRESH_RUN_STALLED
    assert stalled.data.pending_tasks == [k + ":" + n for k, n in TASKS[1:]]  # crm already succeeded
    assert STALLED in first.state.fired
    assert tick(first.state, T0 + 120 * S, 60 * S, 3600 * S).triggers == ()


def test_finished_run_never_stalls_and_is_evicted_after_retention():
    state, _, _ = feed(*whole_run())
    result = tick(state, T0 + 1000 * S, 60 * S, 3600 * S)
    assert result.state is state and result.triggers == ()
    assert not needs_tick(state, T0 + 1000 * S, 60 * S, 3600 * S)
    assert tick(state, T0 + 45 * S + 3600 * S, 60 * S, 3600 * S).state is None
    assert needs_tick(state, T0 + 45 * S + 3600 * S, 60 * S, 3600 * S)


def test_unfinished_declared_run_stays_until_stalled():
    state, _, _ = feed(*whole_run()[:3])
    result = tick(state, T0 + 10**9 * S, 10**12 * S, 1 * S)
    assert result.state is state  # not stalled yet (huge stall time), not evicted


def test_undeclared_run_is_evicted_after_retention():
    state, _, _ = feed(b.task("r1", "segment", "vip", "started", 0))
    assert tick(state, T0 + 3600 * S, 60 * S, 3600 * S).state is None


def test_state_round_trips_through_dict():
    state, _, _ = feed(*whole_run()[:6])
    assert RunState.from_dict(state.to_dict()) == state


def test_partition_time_is_event_time_until_caught_up_and_idle():
    from streams.detection.runs import partition_clock

    now, mark, idle = 10_000_000_000, 4_000_000_000, 30_000_000
    assert partition_clock(now, mark, caught_up=False, quiet_us=10**9, idle_after_us=idle) == mark
    assert partition_clock(now, mark, caught_up=True, quiet_us=idle - 1, idle_after_us=idle) == mark
    assert partition_clock(now, mark, caught_up=True, quiet_us=idle, idle_after_us=idle) == now
    assert partition_clock(now, None, caught_up=False, quiet_us=0, idle_after_us=idle) is None  # no time yet
    assert partition_clock(now, None, caught_up=True, quiet_us=idle, idle_after_us=idle) == now
    # Producers whose clocks run ahead: time never goes back.
    assert partition_clock(now, now + 5, caught_up=True, quiet_us=idle, idle_after_us=idle) == now + 5


def test_explain_says_what_a_run_waits_for_and_when_it_stalls():
    from streams.detection.runs import explain

    assert explain(None, 3600 * S) == {"known": False, "partition_clock": None}
    undeclared, _, _ = feed(b.task("r1", "segment", "vip", "started", 5))
    assert "no run_started event yet" in explain(undeclared, 3600 * S)["waiting_for"]
    half, _, _ = feed(*whole_run()[:3])  # started, and the first task started and succeeded
    said = explain(half, 3600 * S, T0 + 600 * S)
    assert said["partition_clock"] == b.at(600)
    assert said["pending"] == [f"{k}:{n}" for k, n in TASKS[1:]] and said["waiting_for"].startswith("4 task(s)")
    assert said["stalls_at"] == b.at(3600) and said["tasks"]["data_source:crm"]["finished_at"] == b.at(5)
    done, _, _ = feed(*whole_run())
    said = explain(done, 3600 * S)
    assert said["waiting_for"] == "nothing: it completed" and said["stalls_at"] is None
    assert said["fired"] == ["full", "unification"]
