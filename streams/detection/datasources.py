"""Data-source refresh outcomes: a final failure or a success fires; a failure
the source will retry is only counted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from schemas.events import DataSourceChange, RefreshStatus
from schemas.triggers import DataSourceRefreshFailed, DataSourceRefreshSucceeded, TriggerType

from .ids import trigger_id
from .ordering import Clock, Verdict, admit, from_micros, iso, to_micros
from .trigger import Observation, Trigger

RUNS_REMEMBERED = 8  # refresh runs per source kept for durations and retry counts


@dataclass(frozen=True, slots=True)
class RefreshAttempt:
    run_id: str
    started_us: int | None
    retried_failures: int
    # how it ended, once a trigger said so: ("succeeded" or "failed", event time µs, event id)
    ended: tuple[str, int, str] | None = None


@dataclass(frozen=True, slots=True)
class DataSourceState:
    clock: Clock | None = None
    runs: tuple[RefreshAttempt, ...] = ()

    def run(self, run_id: str) -> RefreshAttempt:
        for attempt in self.runs:
            if attempt.run_id == run_id:
                return attempt
        return RefreshAttempt(run_id, None, 0)

    def with_run(self, attempt: RefreshAttempt) -> tuple[RefreshAttempt, ...]:
        others = tuple(a for a in self.runs if a.run_id != attempt.run_id)
        return (others + (attempt,))[-RUNS_REMEMBERED:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock.to_dict() if self.clock else None,
            "runs": [[a.run_id, a.started_us, a.retried_failures, a.ended] for a in self.runs],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DataSourceState:
        clock = Clock.from_dict(raw["clock"]) if raw["clock"] else None
        return cls(clock, tuple(_attempt(*run) for run in raw["runs"]))


def _attempt(run_id: str, started_us: int | None, retried: int, ended: list[Any] | None = None) -> RefreshAttempt:
    """A remembered run as stored (older states have no ``ended``)."""
    return RefreshAttempt(run_id, started_us, retried, None if ended is None else (ended[0], ended[1], ended[2]))


def key(event: DataSourceChange) -> str:
    return event.data_source_id


def retrying_failure(event: DataSourceChange) -> bool:
    """A failure the source will retry: counted, never fired."""
    return event.status is RefreshStatus.FAILED and event.failure is not None and event.failure.will_retry


def observe(state: DataSourceState | None, event: DataSourceChange) -> Observation[DataSourceState]:
    state = state or DataSourceState()
    time_us = to_micros(event.event_time)
    verdict, clock = admit(state.clock, event.event_id, time_us, event.sequence)
    if verdict is not Verdict.APPLY:
        return Observation(verdict, state)

    attempt = state.run(event.refresh_run_id)
    triggers: tuple[Trigger, ...] = ()
    if event.status is RefreshStatus.STARTED:
        attempt = RefreshAttempt(attempt.run_id, time_us, attempt.retried_failures)
    elif retrying_failure(event):
        attempt = RefreshAttempt(attempt.run_id, attempt.started_us, attempt.retried_failures + 1)
    else:
        triggers = (_outcome(event, attempt, time_us),)
        attempt = replace(attempt, ended=(event.status.value, time_us, event.event_id))
    return Observation(verdict, DataSourceState(clock, state.with_run(attempt)), triggers)


def _outcome(event: DataSourceChange, attempt: RefreshAttempt, time_us: int) -> Trigger:
    started = from_micros(attempt.started_us) if attempt.started_us is not None else None
    duration = (time_us - attempt.started_us) / 1e6 if attempt.started_us is not None else None
    common = dict(
        data_source_id=event.data_source_id,
        data_source_name=event.data_source_name,
        refresh_run_id=event.refresh_run_id,
        started_at=started,
        duration_seconds=duration,
        retried_failures=attempt.retried_failures,
    )
    if event.status is RefreshStatus.FAILED:
        assert event.failure is not None
        kind = TriggerType.DATA_SOURCE_REFRESH_FAILED
        data: Any = DataSourceRefreshFailed(
            error_code=event.failure.code,
            error_message=event.failure.message,
            failed_at=event.event_time,
            **common,
        )
    else:
        kind = TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED
        data = DataSourceRefreshSucceeded(succeeded_at=event.event_time, row_count=event.row_count, **common)
    return Trigger(
        type=kind,
        id=_trigger_id(event.status.value, event.data_source_id, event.event_id),
        subject=f"data-source/{event.data_source_id}",
        time=event.event_time,
        data=data,
    )


def _trigger_id(status: str, data_source_id: str, event_id: str) -> str:
    kind = TriggerType.DATA_SOURCE_REFRESH_FAILED if status == "failed" else TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED
    return trigger_id(kind.value, data_source_id, event_id)


def explain(state: DataSourceState | None, data_source_id: str) -> dict[str, Any]:
    """What a data source's state says: its latest event and the refresh runs it remembers, with the failures
    the source said it would retry (counted, never fired) and how each ended, with its trigger."""
    if state is None:
        return {"known": False}
    return {
        "known": True,
        **Clock.explained(state.clock),
        "runs": [
            {
                "refresh_run_id": a.run_id,
                "started_at": iso(a.started_us),
                "retried_failures": a.retried_failures,
                "outcome": None if a.ended is None else a.ended[0],
                "ended_at": None if a.ended is None else iso(a.ended[1]),
                "event_id": None if a.ended is None else a.ended[2],
                "trigger_id": None if a.ended is None else _trigger_id(a.ended[0], data_source_id, a.ended[2]),
            }
            for a in state.runs
        ],
    }
