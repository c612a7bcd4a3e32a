"""One checkpoint owns the order that makes a trigger exact: triggers acknowledged, then the state's changelog
acknowledged, then the local store written, then the offsets marked for commit. A failure at each step leaves
the offsets where a restart applies again everything not yet durable, and the store never ahead of the
changelog."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from streams.runtime.checkpoint import Checkpoint
from streams.runtime.continuity import Incoming, OffsetLedger
from streams.runtime.state import StateTable

INPUT = ("in", 0)


class Failed(Exception):
    pass


@dataclass
class Sent:
    offset: int


class Batch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, key: bytes | None, value: bytes | None, timestamp: Any, headers: Any) -> object:
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class Producer:
    """aiokafka's batch API, acknowledging at once unless the topic is set to fail (at its send or its ack)."""

    def __init__(self, log: list[str], fail_send: str = "", fail_ack: str = "") -> None:
        self.log, self.fail_send, self.fail_ack = log, fail_send, fail_ack
        self.ends: dict[tuple[str, int], int] = {}

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Batch, topic: str, partition: int) -> asyncio.Future[Sent]:
        if topic == self.fail_send:
            raise Failed(f"send to {topic}")
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        if topic == self.fail_ack:
            future.set_exception(Failed(f"ack from {topic}"))
        else:
            first = self.ends.get((topic, partition), 0)
            self.ends[(topic, partition)] = first + batch.record_count()
            future.set_result(Sent(first))
            self.log.append(f"changelog {topic}")
        return future


class Outbox:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log, self.fail = log, fail

    async def settle(self) -> None:
        if self.fail:
            raise Failed("trigger acknowledgement")
        self.log.append("triggers")


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Store(dict):
    """A Faust memory table (its dict is itself), logging its writes."""

    def __init__(self, log: list[str], name: str, fail: bool = False) -> None:
        super().__init__()
        self.data, self.log, self.name, self.fail = self, log, name, fail
        self.changelog_topic = Topic(name)

    def __setitem__(self, key: str, value: Any) -> None:
        if self.fail:
            raise Failed(f"store {self.name}")
        self.log.append(f"store {self.name}")
        super().__setitem__(key, value)


class Ledger(OffsetLedger):
    log: list[str]

    def durable_to(self, mark: dict[tuple[str, int], int]) -> None:
        self.log.append("offsets")
        super().durable_to(mark)


def _table(log: list[str], name: str, after_others: bool = False, fail_store: bool = False) -> StateTable[int]:
    store = Store(log, name, fail_store)
    table: StateTable[int] = StateTable(store, int, int, buffered=True)
    table.after_others = after_others
    return table


def _applied(fail_triggers: bool = False, fail_store: str = "", **producer: str) -> tuple[Any, ...]:
    """Three events applied to the state and clock tables, none durable; the step that fails, if any."""
    log: list[str] = []
    ledger = Ledger(reader=None, group="g")  # type: ignore[arg-type]  # no re-reads here
    ledger.log = log
    ledger.applied(Incoming(*INPUT, 9, None, None, None), durable=True)  # committed before: next is 10
    state = _table(log, "state", fail_store=fail_store == "state")
    clocks = _table(log, "clocks", after_others=True, fail_store=fail_store == "clocks")
    for offset in (10, 11, 12):
        state.put(f"k{offset}", offset, 0)
        clocks.put("p0", offset, 0)
        ledger.applied(Incoming(*INPUT, offset, None, None, None), durable=False)
    checkpoint = Checkpoint(Outbox(log, fail_triggers), [state, clocks], ledger, Producer(log, **producer))
    return log, ledger, state, clocks, checkpoint


def _commit(checkpoint: Checkpoint) -> None:
    asyncio.run(checkpoint.commit())


def test_a_checkpoint_makes_triggers_then_state_then_store_then_offsets_durable():
    log, ledger, state, clocks, checkpoint = _applied()
    assert ledger.next_offset(*INPUT) == 10 and checkpoint.records == 4
    _commit(checkpoint)
    assert log == [
        "triggers",
        "changelog state",
        "store state",
        "store state",
        "store state",
        "changelog clocks",
        "store clocks",
        "offsets",
    ]
    assert ledger.next_offset(*INPUT) == 13  # the next commit covers all three
    assert state.table == {f"k{o}": {"p": 0, "s": o} for o in (10, 11, 12)} and clocks.table["p0"]["s"] == 12


def test_writes_after_the_checkpoint_was_made_wait_for_the_next():
    log, ledger, state, clocks, checkpoint = _applied()
    state.put("later", 13, 0)
    ledger.applied(Incoming(*INPUT, 13, None, None, None), durable=False)
    _commit(checkpoint)
    assert ledger.next_offset(*INPUT) == 13 and "later" not in state.table and state.dirty == 1


@pytest.mark.parametrize(
    ("failing", "durable_log"),
    [
        ({"fail_triggers": True}, []),
        ({"fail_send": "state"}, ["triggers"]),
        ({"fail_ack": "state"}, ["triggers"]),
        ({"fail_store": "state"}, ["triggers", "changelog state"]),
        ({"fail_ack": "clocks"}, ["triggers", "changelog state", "store state", "store state", "store state"]),
        (
            {"fail_store": "clocks"},
            ["triggers", "changelog state", "store state", "store state", "store state", "changelog clocks"],
        ),
    ],
    ids=["triggers", "changelog-send", "changelog-ack", "store", "clock-changelog", "clock-store"],
)
def test_a_failure_at_each_step_leaves_the_offsets_for_a_restart_to_apply_again(failing, durable_log):
    log, ledger, state, clocks, checkpoint = _applied(**failing)
    with pytest.raises(Failed):
        _commit(checkpoint)
    assert log == durable_log  # nothing after the failed step happened
    assert ledger.next_offset(*INPUT) == 10  # a restart applies 10..12 again: their triggers repeat, same ids
    # The store never holds what its changelog does not (what a restart restores from)
    changelogged = {step.split()[1] for step in log if step.startswith("changelog")}
    assert all(name in changelogged for name in ("state", "clocks") if _stored(log, name))


def _stored(log: list[str], name: str) -> bool:
    return f"store {name}" in log
