"""A simulated CDP: the change events of a customer-data platform's day (pure).

- Data sources refresh on their own schedules; now and then a refresh fails
  and the source retries, and now and then it fails for good.
- Scheduled full refresh runs declare their tasks (every data source, the
  unification steps map, match and merge, every segment and measure) and work
  through them; a data-source task can fail, and a run can hang for good.
- Segment member counts and measure values follow a seasonal wave with a
  slow trend and noise, so thresholds near their baseline are crossed upward
  once or twice a simulated hour.

Time: the schedule is in simulated seconds; ``speed`` simulated seconds pass
per real second. Event times are real (``origin`` + simulated time / speed),
so the worker's latency and stall clocks work; durations in payloads are
compressed by the same factor.

Deterministic: the same seed, origin and config give the same events; each
process has its own random generator, so adding a segment does not change the
data sources' story. Ids carry the origin, so a second run against the same
topics is new data, not duplicates.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from schemas.events import (
    DataSourceChange,
    MeasureChange,
    RefreshFailure,
    RefreshRunStarted,
    SegmentChange,
    TaskProgress,
    TaskRef,
)
from streams.client.producer import ChangeEvent

SOURCES = {
    "crm-contacts": "CRM contacts",
    "web-analytics": "Web analytics",
    "pos-transactions": "POS transactions",
    "loyalty-program": "Loyalty program",
    "email-engagement": "Email engagement",
    "support-tickets": "Support tickets",
    "mobile-app": "Mobile app events",
    "ecommerce-orders": "E-commerce orders",
}
# id, name, baseline, wave amplitude (fraction of baseline)
SEGMENTS = [
    ("high-value-customers", "High-value customers", 1000, 0.15),
    ("churn-risk", "Churn risk", 2500, 0.2),
    ("loyal-members", "Loyal members", 5000, 0.1),
    ("new-subscribers", "New subscribers", 800, 0.25),
    ("lapsed-buyers", "Lapsed buyers", 3000, 0.12),
]
MEASURES = [
    ("monthly-revenue", "Monthly revenue", 50_000.0, 0.1),
    ("avg-order-value", "Average order value", 72.5, 0.08),
    ("active-customers", "Active customers", 12_000.0, 0.06),
]
FAILURES = [
    ("AuthExpired", "credentials expired"),
    ("Timeout", "source did not answer within 300 s"),
    ("SchemaDrift", "column 'email' missing in source table"),
    ("QuotaExceeded", "API quota exhausted"),
]


class SimConfig(BaseModel):
    seed: int = 7
    speed: float = Field(60.0, gt=0, description="Simulated seconds per real second")
    data_sources: int = Field(4, ge=0, le=len(SOURCES))
    segments: int = Field(3, ge=0, le=len(SEGMENTS))
    measures: int = Field(2, ge=0, le=len(MEASURES))
    refresh_every_s: float = Field(600.0, gt=0, description="Between a data source's own refreshes (simulated)")
    run_every_s: float = Field(900.0, gt=0, description="Between scheduled full refresh runs (simulated)")
    values_every_s: float = Field(120.0, gt=0, description="Between segment/measure value updates (simulated)")
    wave_period_s: float = Field(2400.0, gt=0, description="Seasonal period of segment/measure values (simulated)")
    retry_probability: float = Field(0.25, ge=0, le=1, description="A refresh fails once and is retried")
    failure_probability: float = Field(0.15, ge=0, le=1, description="A refresh (or run task) fails for good")
    stall_probability: float = Field(0.1, ge=0, le=1, description="A full refresh run hangs before its last task")

    def entities(self) -> dict[str, list[str]]:
        return {
            "data sources": list(SOURCES)[: self.data_sources],
            "segments": [s[0] for s in SEGMENTS[: self.segments]],
            "measures": [m[0] for m in MEASURES[: self.measures]],
        }


@dataclass(frozen=True, slots=True)
class Timed:
    at: float  # real seconds after origin
    event: ChangeEvent


class Simulation:
    def __init__(self, config: SimConfig, origin: datetime) -> None:
        self.config = config
        self.origin = origin
        self._tag = origin.strftime("%Y%m%dT%H%M%S")

    def events(self) -> Iterator[Timed]:
        """Every change event, in time order, without end."""
        c = self.config
        processes = [
            *(self._source(i, name) for i, name in enumerate(list(SOURCES)[: c.data_sources])),
            *(self._values("segment", i, spec) for i, spec in enumerate(SEGMENTS[: c.segments])),
            *(self._values("measure", i, spec) for i, spec in enumerate(MEASURES[: c.measures])),
            self._runs(),
        ]
        # (time, process, n): equal times keep a fixed order, and events are never compared.
        keyed = [((t, i, n, e) for n, (t, e) in enumerate(p)) for i, p in enumerate(processes)]
        for t, _, _, event in heapq.merge(*keyed):
            yield Timed(t / c.speed, event)

    # -- processes: each yields (simulated seconds, event) in time order -----

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.config.seed}/{name}")

    def _time(self, sim_t: float) -> datetime:
        return self.origin + timedelta(seconds=sim_t / self.config.speed)

    def _id(self, *parts: object) -> str:
        return "-".join(["sim", str(self.config.seed), self._tag, *map(str, parts)])

    def _source(self, index: int, source: str) -> Iterator[tuple[float, ChangeEvent]]:
        c, rng = self.config, self._rng(f"source/{source}")
        name = SOURCES[source]
        t = rng.uniform(5, 0.3 * c.refresh_every_s) + index
        for k in itertools.count():
            run = self._id(source, k)

            def change(
                at: float, suffix: str, k: int = k, run: str = run, **fields: object
            ) -> tuple[float, ChangeEvent]:
                return at, DataSourceChange(
                    event_id=self._id(source, k, suffix),
                    event_time=self._time(at),
                    data_source_id=source,
                    data_source_name=name,
                    refresh_run_id=run,
                    **fields,
                )

            yield change(t, "started", status="started")
            took = rng.uniform(60, 300)
            if rng.random() < c.retry_probability:
                code, message = rng.choice(FAILURES)
                yield change(
                    t + took / 2,
                    "retrying",
                    status="failed",
                    failure=RefreshFailure(code=code, message=message, will_retry=True),
                )
            if rng.random() < c.failure_probability:
                code, message = rng.choice(FAILURES)
                yield change(
                    t + took,
                    "failed",
                    status="failed",
                    failure=RefreshFailure(code=code, message=message, will_retry=False),
                )
            else:
                yield change(t + took, "succeeded", status="succeeded", row_count=rng.randint(10_000, 2_000_000))
            t += c.refresh_every_s * rng.uniform(0.85, 1.15)

    def _values(self, kind: str, index: int, spec: tuple) -> Iterator[tuple[float, ChangeEvent]]:
        entity, name, base, amplitude = spec
        c, rng = self.config, self._rng(f"{kind}/{entity}")
        period = c.wave_period_s * rng.uniform(0.8, 1.2)
        phase = rng.uniform(0, 2 * math.pi)
        trend = base * rng.uniform(-0.02, 0.04) / period  # per simulated second: a slow drift over each period
        t = rng.uniform(1, c.values_every_s)
        for k in itertools.count():
            wave = math.sin(2 * math.pi * t / period + phase)
            value = base * (1 + amplitude * wave + rng.gauss(0, amplitude / 8)) + trend * t
            value = max(value, 0.0)
            common = dict(event_id=self._id(entity, k), event_time=self._time(t))
            if kind == "segment":
                yield t, SegmentChange(**common, segment_id=entity, segment_name=name, member_count=round(value))
            else:
                yield t, MeasureChange(**common, measure_id=entity, measure_name=name, value=round(value, 2))
            t += c.values_every_s * rng.uniform(0.8, 1.2)

    def _runs(self) -> Iterator[tuple[float, ChangeEvent]]:
        c, rng = self.config, self._rng("runs")
        e = self.config.entities()
        tasks = (
            [TaskRef(kind="data_source", name=s) for s in e["data sources"]]
            + [TaskRef(kind="unification", name=s) for s in ("map", "match", "merge")]
            + [TaskRef(kind="segment", name=s) for s in e["segments"]]
            + [TaskRef(kind="measure", name=m) for m in e["measures"]]
        )
        t = 60.0
        for k in itertools.count():
            run = self._id("run", k)
            ids = (self._id("run", k, n) for n in itertools.count())
            yield (
                t,
                RefreshRunStarted(
                    event_id=next(ids),
                    event_time=self._time(t),
                    kind="run_started",
                    run_id=run,
                    trigger="scheduled",
                    tasks=tasks,
                ),
            )
            hangs = rng.random() < c.stall_probability
            at = t
            for i, task in enumerate(tasks):
                if hangs and i == len(tasks) - 1:
                    break  # never finishes: the worker reports it stalled
                at += rng.uniform(1, 5)
                yield (
                    at,
                    TaskProgress(
                        event_id=next(ids),
                        event_time=self._time(at),
                        kind="task_progress",
                        run_id=run,
                        task=task,
                        status="started",
                    ),
                )
                at += rng.uniform(10, 60)
                failed = task.kind.value == "data_source" and rng.random() < c.failure_probability
                yield (
                    at,
                    TaskProgress(
                        event_id=next(ids),
                        event_time=self._time(at),
                        kind="task_progress",
                        run_id=run,
                        task=task,
                        status="failed" if failed else "succeeded",
                    ),
                )
            t = max(t + c.run_every_s * rng.uniform(0.95, 1.05), at)  # runs never overlap
