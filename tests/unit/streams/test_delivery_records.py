from streams.agents.dispatcher import expired_records, record_key


def test_sweep_drops_only_old_records_of_its_own_partition():
    items = [
        (record_key("t1", "a"), {"p": 0, "at": 100.0}),
        (record_key("t2", "a"), {"p": 0, "at": 300.0}),
        (record_key("t3", "a"), {"p": 1, "at": 100.0}),  # another partition's record: its own sweep removes it
        (record_key("t4", "a"), None),
    ]
    assert expired_records(items, 0, 200.0) == ["t1|a"]
    assert expired_records(items, 1, 200.0) == ["t3|a"]
