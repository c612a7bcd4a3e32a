"""Are the committed offsets keeping up with what was applied? A pure rule.

A partition is *stuck* while this process has applied input beyond the
group's committed offset and that committed offset has not moved. A commit
runs every ``commit_interval_seconds`` once the work is durable, so in
normal operation a partition is stuck for about a second at a time; one stuck
for ``progress_timeout_seconds`` is a hang (an await that never returned, a
commit that never went out) and the process fails (``health``).
"""

from __future__ import annotations

from dataclasses import dataclass

TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Since:
    committed: int | None  # the committed offset when it was last seen to move
    at: float  # when that was (or when the partition fell behind)


def stuck_for(
    previous: dict[TP, Since], applied: dict[TP, int], committed: dict[TP, int | None], now: float
) -> tuple[dict[TP, Since], dict[TP, float]]:
    """The new bookkeeping, and how long each partition of ``applied`` has been stuck (0: caught up or moving).
    A partition never committed (None) counts as committed at nothing: behind once anything is applied."""
    state: dict[TP, Since] = {}
    ages: dict[TP, float] = {}
    for tp, done in applied.items():
        offset = committed.get(tp)
        if offset is not None and offset >= done:
            ages[tp] = 0.0
            continue
        before = previous.get(tp)
        since = before if before is not None and before.committed == offset else Since(offset, now)
        state[tp] = since
        ages[tp] = now - since.at
    return state, ages


def worst_by_topic(ages: dict[TP, float]) -> dict[str, float]:
    """The longest stuck time of each topic's partitions."""
    worst: dict[str, float] = {}
    for (topic, _), age in ages.items():
        worst[topic] = max(age, worst.get(topic, 0.0))
    return worst
