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

``DiskKV`` and ``MemoryKV`` are plain bytes-to-bytes stores with atomic
batches, for state of our own outside Faust's tables: the subscription
registry's local copy (``worker/registry.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast

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
        pairs = [(raw_key, raw_value) for _, _, _, raw_key, raw_value in writes]
        if changelog_offset is not None:
            pairs.append((self._store.offset_key, str(changelog_offset).encode()))
        _write_batch(self._db(partition), pairs)

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


def _write_batch(db: Any, pairs: Iterable[tuple[bytes, bytes | None]]) -> None:
    """Puts and deletes (value None) as one atomic RocksDB write."""
    from rocksdict import WriteBatch

    batch = WriteBatch(raw_mode=True)
    for key, value in pairs:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    db.write(batch)


class DiskKV:
    """A key-value store of our own (the subscription registry's copy): RocksDB, through rocksdict, bytes to
    bytes, with atomic batches. Its memtable and cache are larger than a table partition's: one DB, not 12."""

    def __init__(self, directory: Path) -> None:
        from rocksdict import BlockBasedOptions, Cache, Options, Rdict

        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_write_buffer_size(8 << 20)
        table = BlockBasedOptions()
        table.set_block_cache(Cache(32 << 20))
        table.set_bloom_filter(10, True)
        options.set_block_based_table_factory(table)
        directory.parent.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._options = options
        self._db = Rdict(str(directory), options=options)

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def write(self, changes: dict[bytes, bytes | None]) -> None:
        _write_batch(self._db, changes.items())

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        # rocksdict types keys as any value it can encode; this store's are raw bytes
        pairs = cast(Iterator[tuple[bytes, bytes]], self._db.items(from_key=prefix))
        for key, value in pairs:
            if not key.startswith(prefix):
                return
            yield key, value

    def clear(self) -> None:
        from rocksdict import Rdict

        self._db.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        self._db = Rdict(str(self.directory), options=self._options)

    def close(self) -> None:
        self._db.close()


class MemoryKV:
    """The same in memory (listing subscriptions, unit tests)."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def write(self, changes: dict[bytes, bytes | None]) -> None:
        for key, value in changes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                # a copy of its own size: orjson's output keeps a 2 KiB buffer (tracemalloc: 2,070 bytes for
                # a 60-byte rule list), a million of them 2 GB
                self._data[key] = memoryview(value).tobytes()

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return ((k, v) for k, v in list(self._data.items()) if k.startswith(prefix))

    def clear(self) -> None:
        self._data.clear()

    def close(self) -> None:
        pass
