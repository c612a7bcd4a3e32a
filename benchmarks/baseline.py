"""The physical limit of our stack, for comparison: a plain aiokafka loop with
no framework. It consumes the input topics, decodes the JSON, checks the
threshold subscriptions of segment and measure updates (cross upward, re-arm
below) and produces one output per crossing. No state is persisted, no event
time is checked, nothing is re-read: what remains is Kafka, JSON and a dict.

    python -m benchmarks.baseline drain BOOTSTRAP PREFIX OUT_TOPIC   # to the end, print the rate
    python -m benchmarks.baseline follow BOOTSTRAP PREFIX OUT_TOPIC  # until killed (latency runs)
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

INPUTS = ("datasource-changes", "segment-changes", "measure-changes", "refresh-runs")


async def load_subscriptions(bootstrap: str, topic: str) -> dict[str, list[list[float]]]:
    """entity key -> [[threshold, rearm_below, armed], ...]"""
    subs: dict[str, dict[bytes, list[float]]] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        parts = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        while await _behind(consumer, parts, end):
            for records in (await consumer.getmany(timeout_ms=200, max_records=10_000)).values():
                for r in records:
                    if r.value is None:
                        continue
                    s = orjson.loads(r.value)
                    recovery = s.get("recovery_threshold")  # 0 is a threshold, not a missing one
                    rearm = s["threshold"] if recovery is None else recovery
                    subs.setdefault(f"{s['entity_kind']}/{s['entity_id']}", {})[r.key] = [s["threshold"], rearm, 1]
    finally:
        await consumer.stop()
    return {entity: list(by_id.values()) for entity, by_id in subs.items()}


async def _behind(consumer: AIOKafkaConsumer, parts: list[TopicPartition], end: dict) -> bool:
    return any([await consumer.position(tp) < end[tp] for tp in parts])


async def run(bootstrap: str, prefix: str, out_topic: str, follow: bool) -> tuple[int, float, int]:
    """(events, seconds, crossings), timed from start, subscriptions loading included."""
    began = time.perf_counter()
    subs = await load_subscriptions(bootstrap, f"{prefix}subscriptions")
    last: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=-1)  # as the worker
    await consumer.start()
    await producer.start()
    events = crossings = 0
    try:
        topics = [f"{prefix}{name}" for name in INPUTS]
        cluster = await consumer._client.fetch_all_metadata()
        parts = [TopicPartition(t, p) for t in topics for p in cluster.partitions_for_topic(t) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        while follow or await _behind(consumer, parts, end):
            for tp, records in (await consumer.getmany(timeout_ms=100, max_records=10_000)).items():
                value_field = "member_count" if tp.topic.endswith("segment-changes") else "value"
                thresholded = tp.topic.endswith(("segment-changes", "measure-changes"))
                kind = "segment" if value_field == "member_count" else "measure"
                for r in records:
                    doc = orjson.loads(r.value)
                    events += 1
                    if not thresholded:
                        continue
                    key = f"{kind}/{doc[kind + '_id']}"
                    value = float(doc[value_field])
                    previous = last.get(key)
                    last[key] = value
                    for rule in subs.get(key, ()):
                        if value < rule[1]:
                            rule[2] = 1
                        elif rule[2] and previous is not None and previous < rule[0] <= value:
                            rule[2] = 0
                            crossings += 1
                            out = orjson.dumps({"entity": key, "value": value, "time": doc["event_time"]})
                            await producer.send(out_topic, out, key=r.key)
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    return events, time.perf_counter() - began, crossings


if __name__ == "__main__":
    mode, bootstrap, prefix, out_topic = sys.argv[1:5]
    n, seconds, crossings = asyncio.run(run(bootstrap, prefix, out_topic, follow=mode == "follow"))
    print(orjson.dumps({"events": n, "seconds": seconds, "crossings": crossings}).decode(), flush=True)
