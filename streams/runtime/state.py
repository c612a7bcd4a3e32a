"""State access, once: typed values in Faust tables.

Every table holds ``{"p": partition, "s": state}``: the state as JSON, and the
input partition its key lives on, so a timer can send a control message to the
partition that owns an entry (Faust writes a table only while processing a
message of that partition, see ``control``). Values written by 0.1 (a bare
state, or the dispatcher's ``{"p", "at"}``) are still read.
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
    def __init__(self, table: Any, to_json: Callable[[S], Any], from_json: Callable[[Any], S]) -> None:
        self.table = table
        self._to_json = to_json
        self._from_json = from_json

    def _decode(self, raw: Any) -> Entry[S]:
        if isinstance(raw, dict) and "p" in raw:
            return Entry(raw["p"], self._from_json(raw["s"] if "s" in raw else raw))
        return Entry(None, self._from_json(raw))

    def entry(self, key: str) -> Entry[S] | None:
        raw = self.table.get(key)
        return None if raw is None else self._decode(raw)

    def get(self, key: str) -> S | None:
        found = self.entry(key)
        return None if found is None else found.state

    def put(self, key: str, state: S, partition: int | None) -> None:
        self.table[key] = {"p": partition, "s": self._to_json(state)}

    def delete(self, key: str) -> None:
        del self.table[key]

    def entries(self) -> Iterator[tuple[str, Entry[S]]]:
        for key, raw in list(self.table.items()):
            if raw is not None:
                yield key, self._decode(raw)

    def __len__(self) -> int:
        return len(self.table)


def plain(value: Any) -> Any:
    """The codec of states that are JSON already (numbers, strings)."""
    return value
