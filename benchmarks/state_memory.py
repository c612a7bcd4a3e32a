"""Memory per tracked item in the worker's tables and registry, as stored
(the table values are the JSON-ready dicts the agents write).

    uv run python -m benchmarks.state_memory [N]
"""

from __future__ import annotations

import json
import sys
import tracemalloc

from pydantic import TypeAdapter

from schemas.events import DataSourceChange, RefreshRunChange
from streams.core import datasources, runs, thresholds
from streams.core.thresholds import Rule
from streams.registry import SubscriptionRegistry
from tests import builders as b


def measure(label: str, n: int, make) -> float:  # type: ignore[no-untyped-def]
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


def main(n: int) -> None:
    rules = [Rule("a", 100, 90), Rule("b", 200, 200)]

    def entity(i: int) -> tuple[str, dict]:
        state = None
        for k, v in enumerate((50, 150)):
            state = thresholds.observe(state, f"e{i}-{k}", 1_700_000_000_000_000 + k, None, v, rules).state
        return f"segment/seg-{i}", state.to_dict()

    def source(i: int) -> tuple[str, dict]:
        obs = datasources.observe(None, DataSourceChange.model_validate(b.datasource(f"ds{i}", "started", 0)))
        return f"ds{i}", obs.state.to_dict()

    adapter = TypeAdapter(RefreshRunChange)
    tasks = [("data_source", "crm"), ("unification", "map"), ("unification", "match"), ("unification", "merge"),
             ("segment", "vip"), ("measure", "ltv")]  # fmt: skip

    def run(i: int) -> tuple[str, dict]:
        state = runs.observe(None, adapter.validate_python(b.run_started(f"r{i}", tasks, 0))).state
        for k, (kind, name) in enumerate(tasks[:3]):
            state = runs.observe(state, adapter.validate_python(b.task(f"r{i}", kind, name, "succeeded", k))).state
        return f"r{i}", {"p": 0, "s": state.to_dict()}

    registry = SubscriptionRegistry()

    def subscription(i: int) -> None:
        doc = b.subscription(f"sub-{i}", "segment", f"seg-{i // 2}", 100 + i % 7, owner="owner@example.com")
        registry.apply(doc["subscription_id"].encode(), json.dumps(doc).encode())

    measure("threshold entity with 2 subscriptions (table value)", n, entity)
    measure("data source (table value)", n, source)
    measure("in-flight refresh run, 6 tasks, 3 done (table value)", max(n // 10, 1), run)
    measure("subscription in the registry (record bytes + rule)", n, subscription)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
