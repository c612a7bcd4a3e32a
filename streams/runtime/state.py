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
typed value, so a busy key is encoded once per flush as well. Its recently
used entries stay decoded in memory (``Recent``): reading and decoding a
stored state cost more than the rule that uses it. As the pipeline writes
such a store and nothing else does while it holds the partitions, the copy
is exact; a rebalance drops it (``forget_cached``), since the next owner of a
partition, or Faust's recovery, writes the store behind our back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from .stores import MemoryStore, RocksStore, Store

S = TypeVar("S")
V = TypeVar("V")


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


class Recent(Generic[V]):
    """A cache of at most ``size`` entries keeping at least the ``size // 2`` most recently used: two
    generations of dicts, the older dropped whole when the younger is full (no per-read bookkeeping, unlike
    an exact LRU). ``size`` 0: keeps nothing."""

    def __init__(self, size: int) -> None:
        self._half = max(size // 2, 1)
        self._enabled = size > 0
        self._young: dict[str, V] = {}
        self._old: dict[str, V] = {}

    def get(self, key: str) -> V | None:
        found = self._young.get(key)
        if found is None:
            found = self._old.pop(key, None)
            if found is not None:
                self.put(key, found)
        return found

    def put(self, key: str, value: V) -> None:
        if self._enabled:
            self._young[key] = value
            if len(self._young) >= self._half:
                self._old, self._young = self._young, {}

    def pop(self, key: str) -> None:
        self._young.pop(key, None)
        self._old.pop(key, None)

    def clear(self) -> None:
        self._young, self._old = {}, {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


class StateTable(Generic[S]):
    def __init__(
        self,
        table: Any,
        to_json: Callable[[S], Any],
        from_json: Callable[[Any], S],
        buffered: bool = False,
        cached: int = 0,
    ) -> None:
        """``cached``: how many decoded entries a buffered table keeps in memory."""
        self.table = table
        self._store = store_for(table, buffered)
        self._to_json = to_json
        self._from_json = from_json
        self.buffered = buffered
        self.after_others = False  # flushed once the other tables' records are acknowledged (Pipeline.state)
        self._pending: Layer = {}  # written since the last flush began
        self._flushing: Layer = {}  # being flushed (its triggers and changelog records awaited)
        self._recent: Recent[Entry[S]] = Recent(cached if buffered else 0)  # decoded, as in the store

    def _decode(self, raw: Any) -> Entry[S]:
        if isinstance(raw, dict) and "p" in raw:
            return Entry(raw["p"], self._from_json(raw.get("s", raw)))
        return Entry(None, self._from_json(raw))

    def _encode(self, entry: Entry[S]) -> dict[str, Any]:
        return {"p": entry.partition, "s": self._to_json(entry.state)}

    def entry(self, key: str, partition: int | None = None) -> Entry[S] | None:
        """``partition``: where the key lives, if known (a persistent store then looks in one place)."""
        for layer in (self._pending, self._flushing):
            found = layer.get(key)
            if found is not None:
                return found[0]
        cached = self._recent.get(key)
        if cached is not None:
            return cached
        raw = self._store.get(key, partition)
        if raw is None:
            return None
        entry = self._decode(raw)
        self._recent.put(key, entry)
        return entry

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
        added = sum(
            1
            for layer in (self._pending, self._flushing)
            for k, (e, _) in layer.items()
            if e is not None and k not in self._store
        )
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
        for key, (entry, _) in self._flushing.items():
            if entry is None:
                self._recent.pop(key)
            else:
                self._recent.put(key, entry)
        self._flushing = {}

    def forget_cached(self) -> None:
        """Partitions move (a rebalance): what the store holds is no longer ours to know."""
        self._recent.clear()

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())


def plain(value: Any) -> Any:
    """The codec of states that are JSON already (numbers, strings)."""
    return value
