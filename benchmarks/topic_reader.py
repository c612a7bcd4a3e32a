"""Read a whole topic, start to end, with confluent-kafka alone: the benchmark's own environment and the Quix
reference's both import it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, Message, TopicPartition


def read_to_end(bootstrap: str, topic: str, timeout: float = 30.0) -> Iterator[Message]:
    """Every record of ``topic`` up to the end offsets it had when called."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex}"})
    try:
        parts = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        position = dict.fromkeys(parts, 0)
        while any(position[p] < ends[p] for p in parts):
            for msg in consumer.consume(10_000, timeout=1.0):
                offset = msg.offset()
                if msg.error() is None and offset is not None:
                    position[msg.partition() or 0] = offset + 1
                    yield msg
    finally:
        consumer.close()
