"""The framework's own floor: a bare Faust agent over the same input topics,
with the worker's settings (at-least-once, memory store, acks=all). ``bare``
decodes each message and writes nothing (the reference of issue 15's target);
``table`` also writes one table entry per message (Faust's cost of a
changelogged write); ``uvloop`` is ``bare`` on uvloop, the event loop the
worker runs on (so the worker's gain from uvloop is not mistaken for ours);
``stock`` is ``bare`` with Faust's own message hand-over, as released
(``faust_fixes`` makes it cheaper, for the worker and ``bare`` alike).
What the worker does beyond these is ours; what they cost above the plain
aiokafka loop is Faust's.

    python -m benchmarks.faust_floor BOOTSTRAP PREFIX APP_ID PARTITIONS bare|table|uvloop|stock
"""

from __future__ import annotations

import sys

import faust
import orjson

from streams.runtime import faust_fixes

bootstrap, prefix, app_id, partitions, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
faust_fixes.apply()
if mode == "stock":
    from faust.transport.consumer import Consumer
    from mode.services import Service

    Consumer.wait_first = Service.wait_first  # type: ignore[method-assign]  # Faust's own, as released
app = faust.App(
    app_id,
    broker=f"kafka://{bootstrap}",
    store="memory://",
    processing_guarantee="at_least_once",
    broker_commit_interval=0.5,
    consumer_auto_offset_reset="earliest",
    topic_partitions=partitions,
    topic_disable_leader=True,
    producer_acks=-1,
    producer_linger_ms=0,
    web_enabled=False,
)
inputs = app.topic(
    *(f"{prefix}{t}" for t in ("datasource-changes", "segment-changes", "measure-changes", "refresh-runs")),
    key_serializer="raw",
    value_serializer="raw",
    partitions=partitions,
)
table = app.Table(
    "floor", default=None, partitions=partitions, schema=faust.Schema(key_serializer="json", value_serializer="json")
)


@app.agent(inputs)
async def floor(stream):
    async for key, value in stream.items():
        doc = orjson.loads(value)
        if mode == "table":
            table[key.decode()] = doc["event_id"]


if __name__ == "__main__":
    if mode == "uvloop":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()
