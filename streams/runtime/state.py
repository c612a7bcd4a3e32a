"""State access, once: typed values in Faust tables.

Every table holds ``{"p": partition, "s": state}``: the state as JSON, and the
input partition its key lives on, so a timer can send a control message to the
partition that owns an entry (Faust writes a table only while processing a
message of that partition, see ``control``). Values written by 0.1 (a bare
state, or the dispatcher's ``{"p", "at"}``) are still read.

A *buffered* table (the worker's) keeps writes in memory until the pipeline
flushes: reads see them at once, and each changed key reaches the Faust table
and its changelog once per flush, after the triggers that came with it are
acknowledged (``Pipeline.flush``), instead of once per event; until then it
holds the typed value, so a busy key is encoded once per flush too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Entry(Generic[S]):
    partition: int | None
    state: S


class StateTable(Generic[S]):
    def __init__(self, table: Any, to_json: Callable[[S], Any], from_json: Callable[[Any], S],
                 buffered: bool = False) -> None:  # fmt: skip
        self.table = table
        self._to_json = to_json
        self._from_json = from_json
        self.buffered = buffered
        # Entries (None: deleted, with the partition) as typed values, encoded once per flush, not per event.
        self._pending: dict[str, tuple[Entry[S] | None, int | None]] = {}  # written since the last flush began
        self._flushing: dict[str, tuple[Entry[S] | None, int | None]] = {}  # being flushed (its triggers awaited)

    def _decode(self, raw: Any) -> Entry[S]:
        if isinstance(raw, dict) and "p" in raw:
            return Entry(raw["p"], self._from_json(raw["s"] if "s" in raw else raw))
        return Entry(None, self._from_json(raw))

    def entry(self, key: str) -> Entry[S] | None:
        for layer in (self._pending, self._flushing):
            found = layer.get(key)
            if found is not None:
                return found[0]
        raw = self.table.get(key)
        return None if raw is None else self._decode(raw)

    def get(self, key: str) -> S | None:
        found = self.entry(key)
        return None if found is None else found.state

    def put(self, key: str, state: S, partition: int | None) -> None:
        if self.buffered:
            self._pending[key] = (Entry(partition, state), partition)
        else:
            self.table[key] = self._encode(Entry(partition, state))

    def delete(self, key: str) -> None:
        if self.buffered:
            found = self.entry(key)
            if found is not None:
                self._pending[key] = (None, found.partition)
        else:
            del self.table[key]

    def _encode(self, entry: Entry[S]) -> dict[str, Any]:
        return {"p": entry.partition, "s": self._to_json(entry.state)}

    def entries(self) -> Iterator[tuple[str, Entry[S]]]:
        changed = {**self._flushing, **self._pending}
        for key, raw in list(self.table.items()):
            if key in changed:
                continue
            if raw is not None:
                yield key, self._decode(raw)
        for key, (entry, _) in list(changed.items()):
            if entry is not None:
                yield key, entry

    def __len__(self) -> int:
        added = sum(1 for layer in (self._pending, self._flushing) for k, (e, _) in layer.items()
                    if e is not None and k not in self.table)  # fmt: skip
        return len(self.table) + added

    @property
    def dirty(self) -> int:
        return len(self._pending)

    def begin_flush(self) -> None:
        """Set aside what was written so far; writes from now on wait for the next flush."""
        assert not self._flushing, "one flush at a time"
        self._flushing, self._pending = self._pending, {}

    def end_flush(self) -> list[tuple[int | None, str, Any]]:
        """Write what was set aside to the Faust table; return its changelog records, (partition, key,
        value or None), for the caller to send as one batch per partition. The write happens outside
        Faust's stream iteration, where ``table[key] = ...`` would take the partition of whatever message
        is current, and skips Faust's per-record send."""
        records = []
        for key, (entry, partition) in self._flushing.items():
            if entry is None:
                self.table.data.pop(key, None)
                records.append((partition, key, None))
            else:
                raw = self.table.data[key] = self._encode(entry)
                records.append((partition, key, raw))
        self._flushing = {}
        return records

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())


def plain(value: Any) -> Any:
    """The codec of states that are JSON already (numbers, strings)."""
    return value
