"""Memory per tracked item in the worker's tables and registry, as stored
(the table values are the JSON-ready ``{"p", "s"}`` values ``runtime.state`` writes).

    uv run python -m benchmarks.state_memory [N]
"""

from __future__ import annotations

import json
import sys
import tracemalloc

from pydantic import TypeAdapter

from schemas.events import DataSourceChange, RefreshRunChange
from streams.detection import datasources, runs, thresholds
from streams.detection.thresholds import Rule
from streams.worker.registry import SubscriptionRegistry


def measure(label: str, n: int, make) -> float:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    keep = [make(i) for i in range(n)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    per = used / n
    print(f"{label:<58} {per:8.0f} bytes each  ({n:,} measured)")
    del keep
    return per


T = "2026-11-24T08:00:00+00:00"


def _event(event_id: str, **fields: object) -> dict:
    return {"event_id": event_id, "event_time": T, **fields}


def main(n: int) -> None:
    rules = [Rule("a", 100, 90), Rule("b", 200, 200)]

    def entity(keep: int, values: int):
        """An entity that has seen ``values`` values, with a history of ``keep`` evaluations."""

        def make(i: int) -> tuple[str, dict]:
            state = None
            for k in range(values):
                value = 50 if k % 2 == 0 else 150
                time_us = 1_700_000_000_000_000 + k
                state = thresholds.evaluate(state, f"e{i}-{k}", time_us, None, value, rules, 1_000 + k, keep).state
            assert state is not None
            return f"segment/seg-{i}", {"p": 0, "s": state.to_dict()}

        return make

    def changelog_bytes(make) -> int:
        """The record a changelog and RocksDB hold for one entity: its key and value as JSON."""
        key, value = make(0)
        return len(json.dumps(key)) + len(json.dumps(value, separators=(",", ":")))

    def source(i: int) -> tuple[str, dict]:
        doc = _event(
            f"d{i}", data_source_id=f"ds{i}", data_source_name=f"Source {i}", refresh_run_id="r1", status="started"
        )
        obs = datasources.observe(None, DataSourceChange.model_validate(doc))
        return f"ds{i}", {"p": 0, "s": obs.state.to_dict()}

    adapter = TypeAdapter(RefreshRunChange)
    tasks = [
        ("data_source", "crm"),
        ("unification", "map"),
        ("unification", "match"),
        ("unification", "merge"),
        ("segment", "vip"),
        ("measure", "ltv"),
    ]

    def run(i: int) -> tuple[str, dict]:
        started = _event(
            f"s{i}",
            kind="run_started",
            run_id=f"r{i}",
            trigger="scheduled",
            tasks=[{"kind": k, "name": name} for k, name in tasks],
        )
        state = runs.observe(None, adapter.validate_python(started)).state
        for k, (kind, name) in enumerate(tasks[:3]):
            done = _event(
                f"t{i}-{k}", kind="task_progress", run_id=f"r{i}", task={"kind": kind, "name": name}, status="succeeded"
            )
            state = runs.observe(state, adapter.validate_python(done)).state
        return f"r{i}", {"p": 0, "s": state.to_dict()}

    registry = SubscriptionRegistry()

    def subscription(i: int) -> None:
        doc = {
            "subscription_id": f"sub-{i}",
            "entity_kind": "segment",
            "entity_id": f"seg-{i // 2}",
            "threshold": 100 + i % 7,
            "owner": "owner@example.com",
            "labels": {},
        }
        registry.apply(str(doc["subscription_id"]).encode(), json.dumps(doc).encode())
        if i % 1000 == 999:  # as the registry stores what it read after each poll
            registry.commit({})

    for keep in (0, 10):
        make = entity(keep, 12)
        per = measure(f"threshold entity, 2 subscriptions, history {keep} (table value)", n, make)
        print(
            f"{'':<58} {changelog_bytes(make):8d} bytes as JSON (changelog record)  {per * 1e6 / 2**20:,.0f} MiB per 1M"
        )
    measure("data source (table value)", n, source)
    measure("in-flight refresh run, 6 tasks, 3 done (table value)", max(n // 10, 1), run)
    measure("subscription in the registry (record bytes + rule)", n, subscription)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
