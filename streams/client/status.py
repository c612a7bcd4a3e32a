"""``cdp-triggers status``: is it working? (pure). From a ``Snapshot`` of plain values (``snapshot`` takes it) to
what needs attention and a report.

Needs attention, each with one sentence:
- a consumer group with lag and no members (nothing consumes it);
- a partition with lag whose committed offset did not move between the two samples (stuck: a wedged or
  crash-looping consumer; a healthy one commits within its commit interval);
- a group whose lag grew between the samples and is over ``max_lag`` (falling behind);
- a process whose readiness probe does not answer ready (a failed flush, a lost follower, a restore);
- more than ``dead_letter_burst`` dead letters in the window that were not replayed;
- given-up deliveries not delivered since (notifications lost until someone redelivers them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Member:
    client_id: str
    host: str
    partitions: tuple[str, ...]  # "<topic>/<partition>"


@dataclass(frozen=True)
class GroupSample:
    """A consumer group at one moment: members, and per partition its committed offset and end."""

    group: str
    state: str
    members: tuple[Member, ...]
    committed: dict[str, int]  # "<topic>/<partition>" -> next offset to read (the first offset, if none committed)
    ends: dict[str, int]

    def lag(self) -> dict[str, int]:
        return {tp: max(0, end - self.committed.get(tp, end)) for tp, end in self.ends.items()}


@dataclass(frozen=True)
class Probe:
    url: str
    ready: bool
    detail: str


@dataclass(frozen=True)
class OldestUndelivered:
    partition: str
    offset: int
    age_seconds: float


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    window_seconds: float  # "the last hour"
    sample_seconds: float  # between the two group samples
    groups: list[tuple[GroupSample, GroupSample]]  # (first, second)
    registries: dict[str, int | None]  # None: not readable with these credentials
    triggers_by_type: dict[str, int]
    dead_letters_by_reason: dict[str, int]
    dead_letters_unreplayed: int
    deliveries: dict[str, dict[str, int]]  # receiver -> {"delivered": n, "given_up": n}, in the window
    undelivered_given_up: int  # of all time: given up and not delivered since
    oldest_undelivered: OldestUndelivered | None
    probes: list[Probe] = field(default_factory=list)


@dataclass(frozen=True)
class Limits:
    max_lag: int = 10_000
    dead_letter_burst: int = 10


def attention(s: Snapshot, limits: Limits) -> list[str]:
    """Each thing that needs someone, in one sentence; empty when all is well."""
    found: list[str] = []
    for first, second in s.groups:
        lag_first, lag_second = first.lag(), second.lag()
        total_first, total_second = sum(lag_first.values()), sum(lag_second.values())
        if total_second and not second.members:
            found.append(f"{second.group}: lag {total_second} and no members: nothing consumes it")
            continue
        stuck = sorted(
            tp
            for tp, lag in lag_second.items()
            if lag and lag_first.get(tp, 0) and second.committed.get(tp) == first.committed.get(tp)
        )
        if stuck:
            shown = ", ".join(stuck[:3]) + (f" and {len(stuck) - 3} more" if len(stuck) > 3 else "")
            found.append(
                f"{second.group}: no progress in {s.sample_seconds:g} s on {shown} (lag {total_second}): "
                "a consumer is stuck or restarting"
            )
        elif total_second > total_first and total_second > limits.max_lag:
            found.append(
                f"{second.group}: falling behind, lag {total_first} -> {total_second} in {s.sample_seconds:g} s"
            )
    for probe in s.probes:
        if not probe.ready:
            found.append(f"{probe.url}: not ready: {probe.detail}")
    if s.dead_letters_unreplayed > limits.dead_letter_burst:
        found.append(
            f"{s.dead_letters_unreplayed} dead letters in the last {_span(s.window_seconds)} not replayed "
            f"(more than {limits.dead_letter_burst}): 'cdp-triggers dead-letters list'"
        )
    if s.undelivered_given_up:
        found.append(
            f"{s.undelivered_given_up} given-up deliveries not delivered since: "
            "'cdp-triggers deliveries list --undelivered'"
        )
    return found


def report(s: Snapshot, needs: list[str]) -> dict[str, Any]:
    """Everything, as JSON-ready values (``--json``)."""
    return {
        "ok": not needs,
        "attention": needs,
        "taken_at": s.taken_at.isoformat(),
        "window_seconds": s.window_seconds,
        "groups": [
            {
                "group": second.group,
                "state": second.state,
                "members": [asdict(m) | {"partitions": list(m.partitions)} for m in second.members],
                "lag": sum(second.lag().values()),
                "lag_before": sum(first.lag().values()),
                "lag_by_partition": {tp: n for tp, n in sorted(second.lag().items()) if n},
            }
            for first, second in s.groups
        ],
        "registries": s.registries,
        "triggers_by_type": s.triggers_by_type,
        "dead_letters_by_reason": s.dead_letters_by_reason,
        "dead_letters_unreplayed": s.dead_letters_unreplayed,
        "deliveries": s.deliveries,
        "undelivered_given_up": s.undelivered_given_up,
        "oldest_undelivered": asdict(s.oldest_undelivered) if s.oldest_undelivered else None,
        "probes": [asdict(p) for p in s.probes],
    }


def render(r: dict[str, Any]) -> list[str]:
    """The report as a person reads it."""

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{n} {k}" for k, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"

    span = _span(r["window_seconds"])
    lines = ["consumer groups:"]
    for g in r["groups"]:
        lines.append(f"  {g['group']}: {g['state'].lower()}, {len(g['members'])} members, lag {g['lag']}")
        for m in g["members"]:
            lines.append(f"    {m['client_id']} ({m['host']}): {len(m['partitions'])} partitions")
    lines.append(
        "registries: "
        + ", ".join(f"{k} not readable here" if n is None else f"{n} {k}" for k, n in r["registries"].items())
    )
    lines.append(f"triggers in the last {span}: {counts(r['triggers_by_type'])}")
    lines.append(
        f"dead letters in the last {span}: {counts(r['dead_letters_by_reason'])}"
        + (f" ({r['dead_letters_unreplayed']} not replayed)" if r["dead_letters_by_reason"] else "")
    )
    lines.append(f"deliveries in the last {span}:" + ("" if r["deliveries"] else " none"))
    for receiver, outcome in sorted(r["deliveries"].items()):
        lines.append(f"  {receiver}: {counts(outcome)}")
    oldest = r["oldest_undelivered"]
    lines.append(
        "oldest trigger not yet delivered: "
        + (f"{_span(oldest['age_seconds'])} old ({oldest['partition']} @ {oldest['offset']})" if oldest else "none")
        + f"; given up and undelivered: {r['undelivered_given_up']}"
    )
    for p in r["probes"]:
        lines.append(f"probe {p['url']}: {'ready' if p['ready'] else 'NOT READY'} ({p['detail']})")
    lines.append("needs attention:" if r["attention"] else "ok: nothing needs attention")
    lines.extend(f"  - {reason}" for reason in r["attention"])
    return lines


def _span(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600} h" if s != 3600 else "hour"
    return (
        f"{s // 3600} h {s % 3600 // 60} min" if s >= 3600 else (f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s")
    )
