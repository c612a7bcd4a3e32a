"""Buffered state: reads see writes at once; the changelog gets each changed key
once per flush, on the key's own partition, and the store only once the
changelog has it. Both stores: Faust's memory store, and its RocksDB store on
a real RocksDB (rocksdict) in a temporary folder."""

import faust
import pytest

from streams.runtime.state import Entry, Recent, StateTable
from streams.runtime.stores import MemoryStore, RocksStore


class FakeTable(dict):
    """The parts of a Faust memory table a StateTable touches."""

    def __init__(self):
        super().__init__()
        self.data = self


def test_buffered_writes_are_read_at_once_and_reach_the_changelog_once_per_flush():
    faust_table = FakeTable()
    state = StateTable(faust_table, lambda s: s, lambda s: s, buffered=True)
    state.put("a", 1, 0)
    state.put("a", 2, 0)
    state.put("b", 5, 3)
    assert state.get("a") == 2 and faust_table == {} and state.dirty == 2
    changes = state.begin_flush()
    assert changes == [
        (0, "a", {"p": 0, "s": 2}, b'"a"', b'{"p":0,"s":2}'),
        (3, "b", {"p": 3, "s": 5}, b'"b"', b'{"p":3,"s":5}'),
    ]
    state.put("a", 3, 0)  # written while the flush awaits its acknowledgements
    assert state.get("a") == 3 and state.get("b") == 5 and faust_table == {}  # the store waits for the changelog
    state.end_flush(changes, {0: 10, 3: 11})
    assert faust_table == {"a": {"p": 0, "s": 2}, "b": {"p": 3, "s": 5}}
    assert state.get("a") == 3 and state.dirty == 1
    state.delete("b")
    assert state.get("b") is None and sorted(k for k, _ in state.entries()) == ["a"]
    changes = state.begin_flush()
    assert changes == [(0, "a", {"p": 0, "s": 3}, b'"a"', b'{"p":0,"s":3}'), (3, "b", None, b'"b"', None)]
    state.end_flush(changes, {0: 12, 3: 13})
    assert "b" not in faust_table and len(state) == 1


def test_unbuffered_tables_write_through():
    faust_table = FakeTable()
    state = StateTable(faust_table, lambda s: s, lambda s: s)
    state.put("x", 1, 2)
    assert faust_table == {"x": {"p": 2, "s": 1}} and state.dirty == 0


@pytest.fixture
def rocks_table(tmp_path):
    app = faust.App("state-test", store="memory://", datadir=str(tmp_path))
    table = app.Table(
        "t",
        default=None,
        partitions=4,
        store="rocksdb:t",
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
    )
    yield table
    table.data._dbs.clear()


def test_rocksdb_store_keeps_values_per_partition_with_the_changelog_offset(rocks_table):
    state = StateTable(rocks_table, lambda s: s, lambda s: s, buffered=True)
    assert isinstance(state._store, RocksStore)
    state.put("seg/ä", {"v": 1}, 1)
    state.put("seg/b", {"v": 2}, 3)
    changes = state.begin_flush()
    state.end_flush(changes, {1: 41, 3: 7})
    store = rocks_table.data
    # The layout Faust's recovery writes and reads: the changelog's key and value bytes, and the offset of the
    # last changelog record held, per partition DB.
    assert store._db_for_partition(1).get('"seg/ä"'.encode()) == b'{"p":1,"s":{"v":1}}'
    assert store.persisted_offset(faust.types.TP("c", 1)) == 41 and store.persisted_offset(faust.types.TP("c", 3)) == 7
    assert state.get("seg/ä", 1) == {"v": 1} and state.get("seg/ä", 3) is None and state.get("seg/ä") == {"v": 1}
    assert sorted(k for k, _ in state.entries()) == ["seg/b", "seg/ä"] and len(state) == 2
    state.delete("seg/ä", 1)
    state.end_flush(state.begin_flush(), {1: 42})
    assert state.get("seg/ä", 1) is None and store.persisted_offset(faust.types.TP("c", 1)) == 42


def test_memory_tables_get_the_memory_store():
    assert isinstance(StateTable(FakeTable(), lambda s: s, lambda s: s)._store, MemoryStore)


def test_recent_keeps_about_size_entries_the_recently_used_first():
    recent = Recent(4)
    for key in "abc":
        recent.put(key, Entry(0, key))
    assert recent.get("a") == Entry(0, "a")  # read: young again, so it outlives "b", written with it
    assert recent.get("b") is None and recent.get("c") == Entry(0, "c") and len(recent) <= 4
    for key in "defgh":
        recent.put(key, Entry(0, key))
        assert len(recent) <= 4
    assert recent.get("a") is None  # unused for longer than its size
    recent.put("a", Entry(0, "a"))
    recent.pop("a")
    assert recent.get("a") is None
    off = Recent(0)
    off.put("a", Entry(0, "a"))
    assert off.get("a") is None and len(off) == 0


class CountingTable(FakeTable):
    reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


def test_cached_states_are_read_without_the_store_until_a_rebalance():
    faust_table = CountingTable()
    state = StateTable(faust_table, lambda s: s, lambda s: s, buffered=True, cached=100)
    state.put("a", 1, 0)
    state.put("b", 2, 1)
    state.end_flush(state.begin_flush(), {0: 1, 1: 1})
    assert (state.get("a"), state.get("b"), faust_table.reads) == (1, 2, 0)  # as flushed, not read back
    state.delete("b")
    state.end_flush(state.begin_flush(), {1: 2})
    assert state.get("b") is None and faust_table.reads == 1  # a deleted state is not served from memory
    faust_table["a"] = {"p": 0, "s": 7}  # another owner, or Faust's recovery, while the partition was away
    assert state.get("a") == 1
    state.forget_cached()
    assert state.get("a") == 7 and faust_table.reads == 2
    assert state.get("a") == 7 and faust_table.reads == 2  # read once, then kept
