"""The pipeline's pure decisions."""

from streams.runtime.checkpoint import flush_phases
from streams.runtime.pipeline import BEHIND_SECONDS, SEND_SECONDS, SEND_SECONDS_BEHIND, send_window
from streams.runtime.state import StateTable


def test_triggers_wait_longer_for_company_only_while_catching_up():
    now = 1_800_000_000.0
    assert send_window(int(now * 1000) - 20, now) == SEND_SECONDS  # live: sent within milliseconds
    assert send_window(None, now) == SEND_SECONDS  # no timestamp: treated as live
    assert send_window(int((now - BEHIND_SECONDS - 0.5) * 1000), now) == SEND_SECONDS_BEHIND
    assert SEND_SECONDS < SEND_SECONDS_BEHIND


def test_a_table_that_sums_up_the_others_becomes_durable_after_them():
    runs, clocks, idle = StateTable({}, int, int), StateTable({}, int, int), StateTable({}, int, int)
    clocks.after_others = True
    record = [(0, "k", 1, b'"k"', b"1")]
    phases = flush_phases([(clocks, record), (runs, record), (idle, [])])
    assert [[table for table, _ in phase] for phase in phases] == [[runs], [clocks]]
