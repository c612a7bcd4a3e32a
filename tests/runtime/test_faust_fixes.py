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
