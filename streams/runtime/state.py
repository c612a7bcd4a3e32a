"""State access, once: typed values in Faust tables.

Every table holds ``{"p": partition, "s": state}``: the state as JSON, and the
input partition its key lives on, so a timer can send a control message to the
partition that owns an entry (Faust writes a table only while processing a
message of that partition, see ``control``). Values written by 0.1 (a bare
state, or the dispatcher's ``{"p", "at"}``) are still read.

A *buffered* table (the worker's) keeps writes in memory until the pipeline
flushes: reads see them at once, and each changed key reaches its changelog
once per flush, after the triggers that came with it are acknowledged, and
its store (``stores``) once the changelog record is acknowledged too
(``Pipeline.flush``), instead of once per event. Until then it holds the
typed value, so a busy key is encoded once per flush as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

import orjson

from .stores import MemoryStore, RocksStore, Store

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Entry(Generic[S]):
    partition: int | None
    state: S


Layer = dict[str, tuple["Entry[Any] | None", int | None]]  # key -> (entry, or None once deleted; partition)
# One changelog record: (partition, key, stored value or None, and both as the JSON bytes the changelog and a
# persistent store hold, encoded once)
Change = tuple[int | None, str, Any, bytes, bytes | None]


def store_for(table: Any, buffered: bool) -> Store:
    """Where reads go. A write-through table is read as the mapping it is (Faust writes it)."""
    from faust.stores.rocksdb import Store as FaustRocks

    if not buffered:
        return MemoryStore(table)
    return RocksStore(table) if isinstance(table.data, FaustRocks) else MemoryStore(table.data)


class StateTable(Generic[S]):
    def __init__(self, table: Any, to_json: Callable[[S], Any], from_json: Callable[[Any], S],
                 buffered: bool = False) -> None:  # fmt: skip
        self.table = table
        self._store = store_for(table, buffered)
        self._to_json = to_json
        self._from_json = from_json
        self.buffered = buffered
        self._pending: Layer = {}  # written since the last flush began
        self._flushing: Layer = {}  # being flushed (its triggers and changelog records awaited)

    def _decode(self, raw: Any) -> Entry[S]:
        if isinstance(raw, dict) and "p" in raw:
            return Entry(raw["p"], self._from_json(raw["s"] if "s" in raw else raw))
        return Entry(None, self._from_json(raw))

    def _encode(self, entry: Entry[S]) -> dict[str, Any]:
        return {"p": entry.partition, "s": self._to_json(entry.state)}

    def entry(self, key: str, partition: int | None = None) -> Entry[S] | None:
        """``partition``: where the key lives, if known (a persistent store then looks in one place)."""
        for layer in (self._pending, self._flushing):
            found = layer.get(key)
            if found is not None:
                return found[0]
        raw = self._store.get(key, partition)
        return None if raw is None else self._decode(raw)

    def get(self, key: str, partition: int | None = None) -> S | None:
        found = self.entry(key, partition)
        return None if found is None else found.state

    def put(self, key: str, state: S, partition: int | None) -> None:
        if self.buffered:
            self._pending[key] = (Entry(partition, state), partition)
        else:
            self.table[key] = self._encode(Entry(partition, state))

    def delete(self, key: str, partition: int | None = None) -> None:
        if self.buffered:
            found = self.entry(key, partition)
            if found is not None:
                self._pending[key] = (None, found.partition)
        else:
            del self.table[key]

    def entries(self) -> Iterator[tuple[str, Entry[S]]]:
        changed = {**self._flushing, **self._pending}
        for key, raw in self._store.items():
            if key not in changed and raw is not None:
                yield key, self._decode(raw)
        for key, (entry, _) in list(changed.items()):
            if entry is not None:
                yield key, entry

    def __len__(self) -> int:
        added = sum(1 for layer in (self._pending, self._flushing) for k, (e, _) in layer.items()
                    if e is not None and k not in self._store)  # fmt: skip
        return len(self._store) + added

    @property
    def dirty(self) -> int:
        return len(self._pending)

    def begin_flush(self) -> list[Change]:
        """Set aside what was written so far (writes from now on wait for the next flush); its changelog
        records, for the caller to send as one batch per partition, outside Faust's stream iteration
        (where ``table[key] = ...`` would take the partition of whatever message is current)."""
        assert not self._flushing, "one flush at a time"
        self._flushing, self._pending = self._pending, {}
        changes: list[Change] = []
        for key, (entry, partition) in self._flushing.items():
            value = None if entry is None else self._encode(entry)
            changes.append((partition, key, value, orjson.dumps(key), None if value is None else orjson.dumps(value)))
        return changes

    def end_flush(self, changes: list[Change], offsets: dict[int, int]) -> None:
        """The changelog has ``changes`` (up to ``offsets``, the last offset per partition): store them."""
        by_partition: dict[int, list[Change]] = {}
        for change in changes:
            assert change[0] is not None, "a buffered state write without its partition"
            by_partition.setdefault(change[0], []).append(change)
        for partition, writes in by_partition.items():
            self._store.write(partition, writes, offsets.get(partition))
        self._flushing = {}

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())


def plain(value: Any) -> Any:
    """The codec of states that are JSON already (numbers, strings)."""
    return value
