"""Refresh runs: full completion, unification completion, stalled runs, eviction.

Tasks of a run progress concurrently, so event-time order is kept per task,
not per run: a task's event older than the last applied for that task is stale.
Each of the three triggers fires at most once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas.events import UNIFICATION_STEPS, RefreshRunStarted, TaskProgress, TaskStatus
from schemas.triggers import (
    FullRefreshCompleted,
    RefreshRunStalled,
    TaskOutcome,
    TriggerType,
    UnificationRefreshCompleted,
)

from .ids import trigger_id
from .ordering import Clock, Verdict, admit, from_micros, iso, to_micros
from .trigger import Observation, Trigger

FINAL = frozenset({TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value, TaskStatus.SKIPPED.value})
UNIFICATION_KEYS = tuple(f"unification:{step}" for step in UNIFICATION_STEPS)
_RUN_KEY = "run"  # the clock slot of the run_started event

FULL, UNIFICATION, STALLED = "full", "unification", "stalled"


@dataclass(frozen=True, slots=True)
class TaskState:
    clock: Clock
    status: str
    started_us: int | None = None
    finished_us: int | None = None


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: str
    trigger: str | None = None
    started_us: int | None = None
    declared: tuple[str, ...] | None = None
    tasks: Mapping[str, TaskState] = field(default_factory=dict)
    fired: frozenset[str] = frozenset()
    last_event_us: int = 0

    @property
    def finished(self) -> bool:
        return FULL in self.fired

    def pending(self) -> list[str]:
        return [k for k in self.declared or () if k not in self.tasks or self.tasks[k].status not in FINAL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "started_us": self.started_us,
            "declared": list(self.declared) if self.declared is not None else None,
            "tasks": {k: [t.clock.to_dict(), t.status, t.started_us, t.finished_us] for k, t in self.tasks.items()},
            "fired": sorted(self.fired),
            "last_event_us": self.last_event_us,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunState:
        return cls(
            run_id=raw["run_id"],
            trigger=raw["trigger"],
            started_us=raw["started_us"],
            declared=tuple(raw["declared"]) if raw["declared"] is not None else None,
            tasks={k: TaskState(Clock.from_dict(c), s, st, fin) for k, (c, s, st, fin) in raw["tasks"].items()},
            fired=frozenset(raw["fired"]),
            last_event_us=raw["last_event_us"],
        )


def key(event: RefreshRunStarted | TaskProgress) -> str:
    return event.run_id


def observe(state: RunState | None, event: RefreshRunStarted | TaskProgress) -> Observation[RunState]:
    state = state or RunState(event.run_id)
    time_us = to_micros(event.event_time)
    slot = _RUN_KEY if isinstance(event, RefreshRunStarted) else event.task.key
    previous = state.tasks.get(slot)
    verdict, clock = admit(previous.clock if previous else None, event.event_id, time_us, event.sequence)
    if verdict is not Verdict.APPLY:
        return Observation(verdict, state)
    assert clock is not None

    tasks = dict(state.tasks)
    if isinstance(event, RefreshRunStarted):
        tasks[_RUN_KEY] = TaskState(clock, "declared")
        if state.declared is None:  # a repeated start does not re-declare
            state = replace(
                state, trigger=event.trigger, started_us=time_us, declared=tuple(t.key for t in event.tasks)
            )
    else:
        status = event.status.value
        started = previous.started_us if previous else None
        if status == TaskStatus.STARTED.value:
            tasks[slot] = TaskState(clock, status, time_us, None)
        else:
            tasks[slot] = TaskState(clock, status, started, time_us)
    state = replace(state, tasks=tasks, last_event_us=max(state.last_event_us, time_us))
    return _completions(state, verdict)


def _completions(state: RunState, verdict: Verdict) -> Observation[RunState]:
    triggers = []
    fired = set(state.fired)
    steps = [state.tasks.get(k) for k in UNIFICATION_KEYS]
    if UNIFICATION not in fired and all(s is not None and s.status in FINAL for s in steps):
        outcomes = [_outcome(k, s) for k, s in zip(UNIFICATION_KEYS, steps, strict=True)]  # type: ignore[arg-type]  # all not None: checked above
        completed = max(o.finished_at for o in outcomes)
        triggers.append(
            _run_trigger(
                TriggerType.UNIFICATION_REFRESH_COMPLETED,
                state.run_id,
                completed,
                UnificationRefreshCompleted(
                    run_id=state.run_id,
                    succeeded=all(o.status == "succeeded" for o in outcomes),
                    completed_at=completed,
                    steps=outcomes,
                ),
            )
        )
        fired.add(UNIFICATION)
    if FULL not in fired and state.declared is not None and not state.pending():
        outcomes = [_outcome(k, state.tasks[k]) for k in state.declared]
        completed = max(o.finished_at for o in outcomes)
        assert state.started_us is not None  # declared tasks come with the run's start
        started = from_micros(state.started_us)
        triggers.append(
            _run_trigger(
                TriggerType.FULL_REFRESH_COMPLETED,
                state.run_id,
                completed,
                FullRefreshCompleted(
                    run_id=state.run_id,
                    trigger=state.trigger,
                    succeeded=all(o.status == "succeeded" for o in outcomes),
                    started_at=started,
                    completed_at=completed,
                    duration_seconds=(completed - started).total_seconds(),
                    tasks=outcomes,
                    failed_tasks=[f"{o.kind}:{o.name}" for o in outcomes if o.status == "failed"],
                    skipped_tasks=[f"{o.kind}:{o.name}" for o in outcomes if o.status == "skipped"],
                ),
            )
        )
        fired.add(FULL)
    return Observation(verdict, replace(state, fired=frozenset(fired)), tuple(triggers))


def _run_trigger(kind: TriggerType, run_id: str, time: datetime, data: BaseModel) -> Trigger:
    # Each run-level trigger fires once per run, so type and run id identify it.
    return Trigger(type=kind, id=trigger_id(kind.value, run_id), subject=f"refresh-run/{run_id}", time=time, data=data)


def _outcome(key: str, task: TaskState) -> TaskOutcome:
    kind, name = key.split(":", 1)
    assert task.finished_us is not None
    return TaskOutcome(
        kind=kind,
        name=name,
        status=task.status,
        started_at=from_micros(task.started_us) if task.started_us is not None else None,
        finished_at=from_micros(task.finished_us),
        duration_seconds=(task.finished_us - task.started_us) / 1e6 if task.started_us is not None else None,
    )


def partition_clock(
    now_us: int, watermark_us: int | None, caught_up: bool, quiet_us: int, idle_after_us: int
) -> int | None:
    """The time a partition's runs are judged at (stalled, evicted).

    Event time: the latest event time applied on the partition, so a worker
    catching up on old input judges each run as of the input around it, and
    what fires does not depend on how far behind it is. Only once the
    partition is caught up and has had no input for ``idle_after`` does time
    follow the wall clock (never going back), the way stream processors treat
    idle sources: a run that really hangs on a live system still fires on
    time. None: behind, and no event applied yet to tell the time.
    """
    if caught_up and quiet_us >= idle_after_us:
        return max(now_us, watermark_us or 0)
    return watermark_us


@dataclass(frozen=True, slots=True)
class TickResult:
    state: RunState | None  # None: evict the run from the table
    triggers: tuple[Trigger, ...] = ()


def tick(state: RunState, now_us: int, stall_after_us: int, retention_us: int) -> TickResult:
    """Time passes for a run: fire 'stalled' once, evict runs that are done with.

    The stalled trigger's time is the run's deadline (start + limit), not when
    it was noticed, so a replay repeats it byte for byte.

    A run leaves the table once it has been quiet for the retention period and
    is finished, has stalled, or never declared its tasks (so cannot finish).
    """
    deadline = stall_deadline(state, stall_after_us)
    if deadline is not None and now_us >= deadline:
        assert state.started_us is not None  # a deadline is counted from the start
        detected = from_micros(deadline)  # the moment it became stalled: the same whenever it is noticed
        trigger = _run_trigger(
            TriggerType.REFRESH_RUN_STALLED,
            state.run_id,
            detected,
            RefreshRunStalled(
                run_id=state.run_id,
                trigger=state.trigger,
                started_at=from_micros(state.started_us),
                stalled_after_seconds=stall_after_us / 1e6,
                detected_at=detected,
                pending_tasks=state.pending(),
            ),
        )
        return TickResult(replace(state, fired=state.fired | {STALLED}), (trigger,))
    done_with = state.finished or STALLED in state.fired or state.declared is None
    if done_with and now_us - state.last_event_us >= retention_us:
        return TickResult(None)
    return TickResult(state)


def stall_deadline(state: RunState, stall_after_us: int) -> int | None:
    """When the run stalls unless it finishes first; None once it cannot."""
    if state.finished or STALLED in state.fired or state.declared is None or state.started_us is None:
        return None
    return state.started_us + stall_after_us


def needs_tick(state: RunState, now_us: int, stall_after_us: int, retention_us: int) -> bool:
    """Cheap pre-check so the timer only sends ticks that can change something."""
    result = tick(state, now_us, stall_after_us, retention_us)
    return result.state is not state or bool(result.triggers)


def explain(state: RunState | None, stall_after_us: int, clock_us: int | None = None) -> dict[str, Any]:
    """What a run's state says, for people: its tasks with their status and times, what is pending, when it
    stalls unless it finishes, the triggers it fired, and its partition's clock (``clock_us``: the latest event
    time applied there; a stall waits for it to pass the deadline)."""
    if state is None:
        return {"known": False, "partition_clock": iso(clock_us)}
    deadline = stall_deadline(state, stall_after_us)

    if state.started_us is None:
        waiting = "no run_started event yet: its tasks are unknown, so it can neither complete nor stall"
    elif state.declared is None:
        waiting = "it declared no tasks: it can neither complete nor stall"
    elif state.finished:
        waiting = "nothing: it completed"
    else:
        waiting = f"{len(state.pending())} task(s): {', '.join(state.pending())}"
    return {
        "known": True,
        "trigger": state.trigger,
        "started_at": iso(state.started_us),
        "last_event_at": iso(state.last_event_us or None),
        "declared": list(state.declared) if state.declared is not None else None,
        "tasks": {
            name: {"status": t.status, "started_at": iso(t.started_us), "finished_at": iso(t.finished_us)}
            for name, t in sorted(state.tasks.items())
        },
        "pending": state.pending(),
        "waiting_for": waiting,
        "stalls_at": iso(deadline),
        "partition_clock": iso(clock_us),
        "fired": sorted(state.fired),
    }
