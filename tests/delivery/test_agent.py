from streams.delivery.agent import delivery_records, expired_records, record_key


def test_sweep_drops_only_old_records_of_its_own_partition():
    table = {}
    records = delivery_records(table)
    records.put(record_key("t1", "a"), 100.0, 0)
    records.put(record_key("t2", "a"), 300.0, 0)
    records.put(record_key("t3", "a"), 100.0, 1)  # another partition's record: its own sweep removes it
    table[record_key("t4", "a")] = None  # deleted, its tombstone not yet compacted
    assert expired_records(records.entries(), 0, 200.0) == ["t1|a"]
    assert expired_records(records.entries(), 1, 200.0) == ["t3|a"]


def test_records_written_by_version_0_1_are_read_and_swept():
    table = {record_key("t1", "a"): {"p": 0, "at": 100.0}, record_key("t2", "a"): {"p": 1, "at": 100.0}}
    records = delivery_records(table)
    assert records.get("t1|a") == 100.0
    assert expired_records(records.entries(), 0, 200.0) == ["t1|a"]
