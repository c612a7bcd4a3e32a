from streams.runtime.continuity import Incoming, OffsetLedger
from streams.runtime.state import StateTable, plain


def msg(offset: int, partition: int = 0) -> Incoming:
    return Incoming("t", partition, offset, 0, b"k", b"v")


def test_persists_every_n_offsets_but_remembers_every_one():
    table: dict = {}
    ledger = OffsetLedger(StateTable(table, plain, plain), reader=None, persist_every=10)  # type: ignore[arg-type]
    for offset in range(25):
        ledger.applied(msg(offset))
    assert table == {"t:0": {"p": 0, "s": 20}}  # 0 (first), 10, 20 were written
    assert ledger.last("t", 0) == 24  # what this worker applied


def test_a_restarted_worker_knows_only_the_persisted_offset():
    table = {"t:0": {"p": 0, "s": 20}}
    assert OffsetLedger(StateTable(table, plain, plain), reader=None).last("t", 0) == 20  # type: ignore[arg-type]


def test_a_ledger_written_by_version_0_1_is_read():
    table = {"t:0": 20}  # the bare offset
    assert OffsetLedger(StateTable(table, plain, plain), reader=None).last("t", 0) == 20  # type: ignore[arg-type]


def test_a_table_ahead_of_memory_wins_after_another_worker_moved_on():
    table = StateTable({}, plain, plain)
    ledger = OffsetLedger(table, reader=None, persist_every=10)  # type: ignore[arg-type]
    for offset in range(5):
        ledger.applied(msg(offset))
    table.put("t:0", 300, 0)  # the partition was elsewhere meanwhile
    assert ledger.last("t", 0) == 300
    ledger.applied(msg(150))  # a re-read below the persisted value changes nothing
    assert ledger.last("t", 0) == 300 and table.get("t:0") == 300
