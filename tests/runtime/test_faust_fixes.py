"""The fixes of faust-streaming that need no broker to show (the commit and flush fixes are proven by the
SIGKILL and chaos tests)."""

import asyncio

from streams.runtime.app import faust_app
from streams.runtime.faust_fixes import FETCH_MAX_WAIT_MS
from streams.runtime.kafka import KafkaConnection
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
