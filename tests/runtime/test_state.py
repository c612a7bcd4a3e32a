"""Buffered state: reads see writes at once; the Faust table and its changelog
get each changed key once per flush, on the key's own partition."""

from streams.runtime.state import StateTable


class FakeTable(dict):
    """The parts of a Faust table a StateTable touches."""

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
    state.begin_flush()
    state.put("a", 3, 0)  # written while the flush awaits its acknowledgements
    assert state.get("a") == 3 and state.get("b") == 5
    assert state.end_flush() == [(0, "a", {"p": 0, "s": 2}), (3, "b", {"p": 3, "s": 5})]
    assert state.get("a") == 3 and state.dirty == 1
    state.delete("b")
    assert state.get("b") is None and sorted(k for k, _ in state.entries()) == ["a"]
    state.begin_flush()
    assert state.end_flush() == [(0, "a", {"p": 0, "s": 3}), (3, "b", None)] and "b" not in faust_table


def test_unbuffered_tables_write_through():
    faust_table = FakeTable()
    state = StateTable(faust_table, lambda s: s, lambda s: s)
    state.put("x", 1, 2)
    assert faust_table == {"x": {"p": 2, "s": 1}} and state.dirty == 0
