"""State access, once: typed values in Faust tables.

Every table holds ``{"p": partition, "s": state}``: the state as JSON, and the
input partition its key lives on, so a timer can send a control message to the
partition that owns an entry (Faust writes a table only while processing a
message of that partition, see ``control``). Values written by 0.1 (a bare
state, or the dispatcher's ``{"p", "at"}``) are still read.

A *buffered* table (the worker's) keeps writes in memory until the pipeline
flushes: reads see them at once, and each changed key reaches the Faust table
and its changelog once per flush, after the triggers that came with it are
acknowledged (``Pipeline.flush``), instead of once per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Entry(Generic[S]):
    partition: int | None
    state: S


Change = tuple[Any, int | None]  # (the stored value, or None when deleted; the input partition)


class StateTable(Generic[S]):
    def __init__(self, table: Any, to_json: Callable[[S], Any], from_json: Callable[[Any], S],
                 buffered: bool = False) -> None:  # fmt: skip
        self.table = table
        self._to_json = to_json
        self._from_json = from_json
        self.buffered = buffered
        self._pending: dict[str, Change] = {}  # written since the last flush began
        self._flushing: dict[str, Change] = {}  # being flushed (its triggers awaited)

    def _raw(self, key: str) -> Any:
        for layer in (self._pending, self._flushing):
            if key in layer:
                return layer[key][0]
        return self.table.get(key)

    def _decode(self, raw: Any) -> Entry[S]:
        if isinstance(raw, dict) and "p" in raw:
            return Entry(raw["p"], self._from_json(raw["s"] if "s" in raw else raw))
        return Entry(None, self._from_json(raw))

    def entry(self, key: str) -> Entry[S] | None:
        raw = self._raw(key)
        return None if raw is None else self._decode(raw)

    def get(self, key: str) -> S | None:
        found = self.entry(key)
        return None if found is None else found.state

    def put(self, key: str, state: S, partition: int | None) -> None:
        value = {"p": partition, "s": self._to_json(state)}
        if self.buffered:
            self._pending[key] = (value, partition)
        else:
            self.table[key] = value

    def delete(self, key: str) -> None:
        if self.buffered:
            found = self.entry(key)
            if found is not None:
                self._pending[key] = (None, found.partition)
        else:
            del self.table[key]

    def entries(self) -> Iterator[tuple[str, Entry[S]]]:
        changed = {**self._flushing, **self._pending}
        for key, raw in list(self.table.items()):
            if key in changed:
                continue
            if raw is not None:
                yield key, self._decode(raw)
        for key, (raw, _) in list(changed.items()):
            if raw is not None:
                yield key, self._decode(raw)

    def __len__(self) -> int:
        return len(self.table) + sum(1 for k, (raw, _) in self._pending.items() if raw is not None and k not in self.table)

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
        for key, (raw, partition) in self._flushing.items():
            if raw is None:
                self.table.data.pop(key, None)
            else:
                self.table.data[key] = raw
            records.append((partition, key, raw))
        self._flushing = {}
        return records

    @property
    def changelog_topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())


def plain(value: Any) -> Any:
    """The codec of states that are JSON already (numbers, strings)."""
    return value
