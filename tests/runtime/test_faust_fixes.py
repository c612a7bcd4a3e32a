"""The fixes of faust-streaming that need no broker to show (the commit and flush fixes are proven by the
SIGKILL and chaos tests)."""

import asyncio
from typing import Any

import pytest

from streams.kafka.clients import KafkaConnection
from streams.runtime.app import faust_app
from streams.runtime.faust_fixes import FETCH_MAX_WAIT_MS
from streams.settings import Settings


def test_the_worker_consumer_long_polls_briefly(tmp_path):
    # Faust's 1.5 s fetch wait held events of busy partitions back for up to 1.5 s each time (see faust_fixes).
    settings = Settings(data_dir=tmp_path)
    app = faust_app(settings, KafkaConnection(settings))

    async def fetch_wait() -> int:  # aiokafka builds its consumer inside a running loop
        consumer = app.consumer._thread._create_worker_consumer(app.transport)  # the path Faust starts it by
        try:
            return consumer._fetch_max_wait_ms  # what start() builds the fetcher with
        finally:
            await consumer.stop()

    assert asyncio.run(fetch_wait()) == FETCH_MAX_WAIT_MS == 100


def test_a_commit_the_coordinator_refuses_is_not_recorded_as_done(tmp_path, caplog):
    # Faust's _commit returns False for a CommitFailedError "already rebalanced" and still recorded the offsets as
    # committed: never sent again, the partition's committed offset stayed behind, silently (see faust_fixes).
    from faust.types import TP

    settings = Settings(data_dir=tmp_path)
    app = faust_app(settings, KafkaConnection(settings))
    consumer = app.consumer
    tp = TP("cdp.segment-changes", 0)
    answers = [False, True]

    async def commit(offsets):  # the coordinator's answer: refused, then accepted
        return answers.pop(0)

    async def flushed() -> None:
        pass

    consumer._commit = commit
    consumer.assignment = lambda: {tp}
    app.producer.flush = flushed
    app.tables.on_commit = lambda offsets: None

    async def go() -> list:
        seen = [await consumer._commit_offsets({tp: 5}), consumer._committed_offset[tp]]
        seen.append(consumer._should_commit(tp, 5))  # the next timer commit sends it again
        seen += [await consumer._commit_offsets({tp: 5}), consumer._committed_offset[tp]]
        return seen

    assert asyncio.run(go()) == [False, None, True, True, 5]
    assert "refused an offset commit of 1 partition(s)" in caplog.text


def _consumer(tmp_path):
    """The worker's consumer (its wait_first is the drain loop's hand-over) on the running loop, where its tasks run."""
    settings = Settings(data_dir=tmp_path)
    return faust_app(settings, KafkaConnection(settings)).consumer


def test_a_hand_over_that_does_not_block_runs_at_once_without_tasks(tmp_path):
    # Faust made four tasks and an asyncio.wait for every message; most hand-overs never block (see faust_fixes).
    handed: list[int] = []

    async def handover(n: int) -> int:
        handed.append(n)
        return n * 10

    async def main() -> tuple[list, int]:
        consumer = _consumer(tmp_path)
        created = 0
        loop = asyncio.get_running_loop()

        def counting(loop, coro, **kwargs):
            nonlocal created
            created += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        loop.set_task_factory(counting)
        results = [await consumer.wait_first(handover(n), consumer.suspend_flow.wait()) for n in range(3)]
        return results, created

    results, created = asyncio.run(main())
    assert handed == [0, 1, 2]
    assert [(r.results, r.stopped) for r in results] == [([0], False), ([10], False), ([20], False)]
    assert created == 0


def test_a_hand_over_that_blocks_is_awaited_to_its_end(tmp_path):
    async def main() -> list:
        consumer = _consumer(tmp_path)
        gate: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handover() -> int:
            return await gate + 1

        asyncio.get_running_loop().call_later(0.05, gate.set_result, 41)
        return (await consumer.wait_first(handover(), consumer.suspend_flow.wait())).results

    assert asyncio.run(main()) == [42]


def test_a_blocked_hand_over_is_still_interrupted_by_a_suspended_flow(tmp_path):
    # What wait_first is there for: a rebalance suspends the flow while a hand-over waits on flow control.
    seen: list[str] = []

    async def main() -> Any:
        consumer = _consumer(tmp_path)

        async def handover() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise

        asyncio.get_running_loop().call_later(0.05, consumer.suspend_flow.set)
        return await asyncio.wait_for(consumer.wait_first(handover(), consumer.suspend_flow.wait()), 5)

    result = asyncio.run(main())
    assert result.results == [True]  # suspend_flow.wait() won
    assert seen == ["cancelled"]


def test_a_hand_over_error_propagates_before_and_after_blocking(tmp_path):
    async def at_once() -> None:
        raise ValueError("at once")

    async def later() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("later")

    async def main(handover: Any) -> None:
        consumer = _consumer(tmp_path)
        await consumer.wait_first(handover(), consumer.suspend_flow.wait())

    for handover, message in ((at_once, "at once"), (later, "later")):
        with pytest.raises(ValueError, match=message):
            asyncio.run(main(handover))


def test_a_fetch_reaches_the_streams_as_batches_of_the_partitions_the_ledger_owns(tmp_path, monkeypatch):
    # One Faust message per partition and BATCH_RECORDS records: Faust's per-message hand-over cost about 40 µs
    # of 150 per event (see faust_fixes). Partitions the ledger does not own stay one message per record.
    from aiokafka.structs import ConsumerRecord
    from faust.types import TP

    from streams.runtime import faust_fixes
    from streams.runtime.continuity import Incoming

    consumer = _consumer(tmp_path)

    class Ledger:
        def owns(self, topic: str) -> bool:
            return topic == "in"

    def record(topic: str, offset: int) -> ConsumerRecord:
        return ConsumerRecord(topic, 1, offset, 1_700_000_000_123, 0, b"k", b"v%d" % offset, None, 1, 2, [])

    owned, other = TP("in", 1), TP("other", 1)
    fetched = {owned: [record("in", o) for o in range(10, 10 + faust_fixes.BATCH_RECORDS + 3)], other: []}
    fetched[other] = [record("other", 0), record("other", 1)]

    async def fetch(self, timeout):
        return fetched, {owned, other}

    monkeypatch.setattr(faust_fixes, "_original_wait_next_records", fetch)
    faust_fixes.commit_from(consumer.app, Ledger())
    records, active = asyncio.run(consumer._wait_next_records(1.0))

    first, second = records[owned]
    assert [len(b.value) for b in (first, second)] == [faust_fixes.BATCH_RECORDS, 3]
    assert (first.topic, first.partition, first.offset) == ("in", 1, 10 + faust_fixes.BATCH_RECORDS - 1)
    assert second.offset == 10 + faust_fixes.BATCH_RECORDS + 2  # Faust's read position moves past the batch
    assert records[other] == fetched[other] and active == {owned, other}
    # What the agent gets from Faust's message: the batch's records, in order, timestamps in milliseconds
    message = consumer._to_message(owned, first)
    batch = Incoming.all_in(message)
    assert [m.offset for m in batch] == list(range(10, 10 + faust_fixes.BATCH_RECORDS))
    assert batch[0] == Incoming("in", 1, 10, 1_700_000_000_123, b"k", b"v10")
    single = Incoming.all_in(consumer._to_message(other, fetched[other][1]))
    assert single == [Incoming("other", 1, 1, 1_700_000_000_123, b"k", b"v1")]


def test_an_input_stream_holds_a_few_batches_not_faust_s_4096(tmp_path):
    # A queue of 4,096 batches held the whole backlog of the memory benchmark, and RSS grew by 300 MiB.
    from streams.runtime import faust_fixes
    from streams.runtime.app import pipeline

    p = pipeline(Settings(data_dir=tmp_path))

    async def queue_size() -> int:
        return p.input_topic("in").stream().channel.queue.maxsize

    assert asyncio.run(queue_size()) == faust_fixes.STREAM_BUFFER_BATCHES == 8
