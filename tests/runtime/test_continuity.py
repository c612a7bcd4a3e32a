"""The offset ledger's logic, over an in-memory log standing in for Kafka."""

import asyncio

from streams.runtime.continuity import Incoming, OffsetLedger


class Reader:
    """Offsets 0..end of each partition, and the group's committed offsets."""

    def __init__(self, end: int, committed: dict[tuple[str, int], int]) -> None:
        self.end = end
        self.committed_offsets = committed
        self.lookups = 0

    async def committed(self, group, tps):
        self.lookups += 1
        return {tp: self.committed_offsets.get(tp) for tp in tps}

    async def first_offset(self, topic, partition):
        return 0

    async def end_offsets(self, tps):
        return {tp: self.end for tp in tps}

    async def read(self, topic, partition, start, end):
        return [msg(o, partition, topic) for o in range(start, end)]


def reader(end: int, **committed: int) -> Reader:
    return Reader(end, {("t", int(p[1:])): o for p, o in committed.items()})


def msg(offset: int, partition: int = 0, topic: str = "t") -> Incoming:
    return Incoming(topic, partition, offset, 0, b"k", b"v")


def run(coro):
    return asyncio.run(coro)


def ledger_over(r: Reader) -> OffsetLedger:
    ledger = OffsetLedger(r, "group")  # type: ignore[arg-type]  # a fake reader, of the calls the ledger makes
    ledger.track(["t"], "t-control")
    return ledger


def test_a_partition_starts_at_the_groups_committed_offset_or_the_log_start():
    r = reader(100, p0=40)
    ledger = ledger_over(r)
    assert run(ledger.start("t", 0)) == 40 and run(ledger.start("t", 1)) == 0
    assert run(ledger.start("t", 0)) == 40 and r.lookups == 2  # asked once per partition


def test_a_hole_before_a_message_is_re_read_and_the_commit_follows_what_was_applied():
    ledger = ledger_over(reader(100, p0=40))
    assert ledger.next_offset("t", 0) is None  # nothing known: nothing to commit
    skipped = run(ledger.missing_before(msg(45)))
    assert [m.offset for m in skipped] == [40, 41, 42, 43, 44]
    for m in [*skipped, msg(45)]:
        ledger.applied(m)
    assert ledger.next_offset("t", 0) == 46
    assert run(ledger.missing_before(msg(46))) == []


def test_an_offset_below_the_ledger_was_applied_already():
    ledger = ledger_over(reader(100, p0=40))
    assert run(ledger.is_applied(msg(39))) and not run(ledger.is_applied(msg(40)))
    ledger.applied(msg(40))
    assert run(ledger.is_applied(msg(40)))


def test_a_revoked_partition_is_asked_again_when_it_comes_back():
    r = reader(100, p0=40)
    ledger = ledger_over(r)
    ledger.applied(msg(40))
    r.committed_offsets[("t", 0)] = 70  # another worker moved it on meanwhile
    ledger.forget([("t", 0)])
    assert ledger.next_offset("t", 0) is None and run(ledger.start("t", 0)) == 70


def test_control_messages_move_the_commit_without_re_reads():
    ledger = ledger_over(reader(100))
    assert ledger.owns("t-control") and ledger.owns("t") and not ledger.owns("other")
    ledger.applied(msg(7, topic="t-control"))
    assert ledger.next_offset("t-control", 0) == 8 and ("t-control", 0) in ledger.partitions()


def test_a_partition_behind_its_end_without_progress_is_stuck_and_its_lag_counted():
    ledger = ledger_over(reader(100, p0=90, p1=100))
    previous: dict = {}
    stuck, lag = run(ledger.check([("t", 0), ("t", 1)], previous))
    assert stuck == [] and lag == {("t", 0): 10, ("t", 1): 0}  # first look: no judgement yet
    stuck, lag = run(ledger.check([("t", 0), ("t", 1)], previous))
    assert stuck == [("t", 0)]
    for o in range(90, 100):
        ledger.applied(msg(o))
    stuck, lag = run(ledger.check([("t", 0), ("t", 1)], previous))
    assert stuck == [] and lag == {("t", 0): 0, ("t", 1): 0}


def test_commits_stop_at_work_not_yet_durable_and_move_on_with_each_flush():
    ledger = ledger_over(reader(100, p0=10))
    run(ledger.start("t", 0))
    for offset in (10, 11, 12):
        ledger.applied(msg(offset), durable=False)
    assert ledger.next_offset("t", 0) == 10  # applied in memory: not committable
    assert run(ledger.is_applied(msg(12)))  # but a re-delivery is still recognised as applied
    mark = ledger.mark()
    ledger.applied(msg(13), durable=False)  # applied while the flush awaited its acknowledgements
    ledger.durable_to(mark)
    assert ledger.next_offset("t", 0) == 13
    ledger.durable_to(ledger.mark())
    assert ledger.next_offset("t", 0) == 14 and ledger.mark() == {}


def test_a_revoked_partition_drops_its_pending_work():
    ledger = ledger_over(reader(100, p0=0))
    run(ledger.start("t", 0))
    ledger.applied(msg(0), durable=False)
    ledger.forget([("t", 0)])
    assert ledger.next_offset("t", 0) is None and ledger.mark() == {}
