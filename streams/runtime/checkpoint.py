"""The order that makes a trigger exact, in one place.

A checkpoint takes what the agents applied up to one moment (the ledger's mark, and each table's buffered
writes) and makes it durable in four steps, each waiting for the one before:

1. the triggers and dead letters queued so far: sent, and acknowledged by Kafka;
2. the state that came with them: each table's changelog records sent, and acknowledged (a table that sums up
   the others, a partition's clock, only after theirs);
3. the local store: each table's records written, once its changelog has them;
4. the offsets: marked durable in the ledger, from which Faust's next commit takes them.

A failure at any step ends the checkpoint there, and the offsets stay where the last complete one left them: a
restart applies the rest again, its triggers repeating under the same ids, and reads a state that is never
ahead of them (the store never ahead of the changelog, the changelog never ahead of the triggers). The order
between the first two steps is the guarantee: state acknowledged before its triggers would, on a crash in
between, say "fired" for a trigger that never left.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..kafka.clients import Record, send_batches
from .state import Change, StateTable

Flushed = tuple[StateTable[Any], list[Change]]
Mark = dict[tuple[str, int], int]


class Outbox(Protocol):
    """The triggers and dead letters waiting (``pipeline.Publisher``)."""

    async def settle(self) -> None:
        """Send what is queued and await every acknowledgement so far; a failure is raised."""


class Ledger(Protocol):
    """What was applied (``continuity.OffsetLedger``)."""

    def mark(self) -> Mark: ...

    def durable_to(self, mark: Mark) -> None: ...


class Checkpoint:
    """What was applied when it was made, to be made durable by ``commit`` (one at a time)."""

    def __init__(self, outbox: Outbox, tables: list[StateTable[Any]], ledger: Ledger, producer: Any) -> None:
        self._outbox, self._ledger, self._producer = outbox, ledger, producer
        self.mark = ledger.mark()  # taken first: anything applied later waits for the next checkpoint
        self.changes: list[Flushed] = [(table, table.begin_flush()) for table in tables]

    @property
    def records(self) -> int:
        return sum(len(records) for _, records in self.changes)

    async def commit(self) -> None:
        await self._outbox.settle()  # 1. triggers and dead letters acknowledged
        for phase in flush_phases(self.changes):
            sent = [
                (table, records, await send_changelog(self._producer, table.changelog_topic, records))
                for table, records in phase
            ]
            for table, records, last in sent:
                offsets = await changelog_offsets(last)  # 2. the state's changelog records acknowledged
                table.end_flush(records, offsets)  # 3. and written to the local store
        self._ledger.durable_to(self.mark)  # 4. their offsets may be committed


def flush_phases(changes: list[Flushed]) -> list[list[Flushed]]:
    """The tables with records to flush, in the order they must become durable: first the state, then what sums
    it up (a partition's clock), so that a crash in between leaves a summary behind what it judged, never ahead."""
    return [
        [(table, records) for table, records in changes if records and table.after_others is after]
        for after in (False, True)
    ]


async def send_changelog(producer: Any, topic: str, changes: list[Change]) -> dict[int, tuple[Any, int]]:
    """Changelog records (JSON keys and values, as Faust's tables read them back) as one batch per
    partition: per partition, the last batch's future and record count (see ``changelog_offsets``)."""
    by_partition: dict[int, list[Record]] = {}
    for partition, _, _, raw_key, raw_value in changes:
        assert partition is not None, "a buffered state write without its partition"
        by_partition.setdefault(partition, []).append((raw_key, raw_value, []))
    return {
        partition: (await send_batches(producer, topic, partition, records))[-1]
        for partition, records in by_partition.items()
    }


async def changelog_offsets(sent: dict[int, tuple[Any, int]]) -> dict[int, int]:
    """Once acknowledged (batches of a partition are acknowledged in order), the last offset per partition."""
    return {partition: (await future).offset + count - 1 for partition, (future, count) in sent.items()}
