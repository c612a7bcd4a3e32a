"""Where a ``StateTable`` keeps its values between flushes: Faust's table
storage, reached directly rather than through ``table[key]`` (which takes its
partition from the current event and sends its own changelog record).

- ``MemoryStore``: Faust's ``memory://`` store, a dict per table. A restarted
  worker rebuilds it from the whole changelog.
- ``RocksStore``: Faust's ``rocksdb://`` store (rocksdict), one RocksDB per
  partition on the local disk, holding keys and values as the changelog's
  JSON bytes, and the offset of the last changelog record it holds. A
  restarted worker reads only the changelog after that offset, and the values
  live off the Python heap.

Both are written only with values whose changelog records are acknowledged
(``Pipeline.flush``), so the local store never gets ahead of the changelog.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

import orjson
from faust.types import TP

Value = Any  # a table value as JSON: {"p": partition, "s": state}
Write = tuple[Any, str, Value | None, bytes, bytes | None]  # a state.Change: (partition, key, value or None, as bytes)


class Store(Protocol):
    def get(self, key: str, partition: int | None) -> Value | None: ...

    def write(self, partition: int, writes: list[Write], changelog_offset: int | None) -> None: ...

    def items(self) -> Iterator[tuple[str, Value]]: ...

    def __contains__(self, key: str) -> bool: ...

    def __len__(self) -> int: ...


class MemoryStore:
    def __init__(self, data: Any) -> None:
        self._data = data  # a Faust memory table's dict (or, for a write-through table, the table itself)

    def get(self, key: str, partition: int | None) -> Value | None:
        return self._data.get(key)

    def write(self, partition: int, writes: list[Write], changelog_offset: int | None) -> None:
        for _, key, value, _, _ in writes:
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def items(self) -> Iterator[tuple[str, Value]]:
        return iter(list(self._data.items()))

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


class RocksStore:
    def __init__(self, table: Any) -> None:
        self._table = table
        self._store = table.data  # faust.stores.rocksdb.Store: opens each partition's DB on assignment

    def _db(self, partition: int) -> Any:
        return self._store._db_for_partition(partition)

    def _open(self) -> list[Any]:
        """The DBs of the partitions this worker holds as active (a standby's are Faust's to fill)."""
        topic = self._table.changelog_topic_name
        standbys = self._store.app.assignor.assigned_standbys()
        return [db for partition, db in list(self._store._dbs.items()) if TP(topic, partition) not in standbys]

    def get(self, key: str, partition: int | None) -> Value | None:
        raw_key = orjson.dumps(key)
        if partition is not None:
            raw = self._db(partition).get(raw_key)
        else:  # a key whose partition is not known: every partition this worker holds
            raw = next((found for db in self._open() if (found := db.get(raw_key)) is not None), None)
        return None if raw is None else orjson.loads(raw)

    def write(self, partition: int, writes: list[Write], changelog_offset: int | None) -> None:
        """One atomic batch: the values and the changelog offset they reach (what recovery starts after)."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        for _, _, _, raw_key, raw_value in writes:
            if raw_value is None:
                batch.delete(raw_key)
            else:
                batch.put(raw_key, raw_value)
        if changelog_offset is not None:
            batch.put(self._store.offset_key, str(changelog_offset).encode())
        self._db(partition).write(batch)

    def items(self) -> Iterator[tuple[str, Value]]:
        offset_key = self._store.offset_key
        for db in self._open():
            for key, value in db.items():
                if key != offset_key:
                    yield orjson.loads(key), orjson.loads(value)

    def __contains__(self, key: str) -> bool:
        return self.get(key, None) is not None

    def __len__(self) -> int:
        # RocksDB's estimate (exact after compaction), less each DB's offset entry: counting a million keys
        # one by one every few seconds, as Faust's len() does, would cost the stream.
        return sum(max(db.property_int_value("rocksdb.estimate-num-keys") - 1, 0) for db in self._open())
