"""Test helpers around the real broker: a different client (confluent-kafka,
librdkafka) produces and reads; workers run as real processes (``devtools.processes``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from devtools.processes import ROOT, WorkerProcess, env_for, free_port  # noqa: F401  (re-exported for tests)
from streams.settings import Settings

# Every tag handed out this session: its topics are deleted at the end (delete_test_topics), so a
# long-lived dev broker does not pile up thousands of partitions run after run.
_TAGS: set[str] = set()


def new_tag() -> str:
    """A fresh name for a test's topics (``t-<tag>.``) and consumer groups (``test-<tag>``)."""
    tag = uuid.uuid4().hex[:10]
    _TAGS.add(tag)
    return tag


def delete_test_topics(bootstrap: str, timeout: float = 60.0) -> int:
    """Delete the topics of every tag this session handed out; return how many."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = admin.list_topics(timeout=timeout).topics
    prefixes = tuple(p for tag in _TAGS for p in (f"t-{tag}.", f"test-{tag}-"))
    doomed = [name for name in names if name.startswith(prefixes)]
    if not doomed:
        return 0
    for future in admin.delete_topics(doomed, operation_timeout=timeout, request_timeout=timeout).values():
        future.result()
    return len(doomed)


def test_settings(bootstrap: str, tmp: Path, **overrides: Any) -> Settings:
    tag = new_tag()
    values: dict[str, Any] = dict(
        kafka_bootstrap=bootstrap,
        app_id=f"test-{tag}",
        topic_prefix=f"t-{tag}.",
        partitions=2,
        data_dir=tmp / f"worker-{tag}",
        commit_interval_seconds=0.2,
        metrics_port=free_port(),
        stall_check_interval_seconds=0.5,
        session_timeout_seconds=6,
        instance_id=f"worker-{tag}",
    )
    values.update(overrides)
    return Settings(**values)


def group_of_workers(base: Settings, count: int, tmp: Path) -> list[WorkerProcess]:
    """``count`` workers of one consumer group: each its own instance id, metrics port, data folder and log."""
    return [
        WorkerProcess(
            base.model_copy(
                update={
                    "instance_id": f"{base.instance_id}-{i}",
                    "metrics_port": free_port(),
                    "data_dir": tmp / f"w{i}",
                }
            ),
            tmp / f"worker-{i}.log",
        )
        for i in range(count)
    ]


class Kafka:
    """Produce and consume with librdkafka; Java-compatible partitioning."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 1, "acks": "all"}
        )

    def produce(self, topic: str, key: str | bytes | None, value: Any, headers: dict | None = None) -> None:
        if isinstance(value, (dict, list)):
            value = json.dumps(value).encode()
        elif isinstance(value, str):
            value = value.encode()
        self._producer.produce(topic, key=key, value=value, headers=headers)
        self._producer.poll(0)

    def flush(self) -> None:
        assert self._producer.flush(30) == 0, "messages still undelivered after 30 s"

    def produce_all(self, topic: str, events: Iterable[tuple[str | None, Any]]) -> None:
        for key, value in events:
            self.produce(topic, key, value)
        self.flush()

    def read(self, topic: str, *, until: int | None = None, timeout: float = 30.0, idle: float | None = None) -> list:
        """Read a topic from the beginning; stop at ``until`` records, on ``timeout``,
        or after ``idle`` seconds without a new record."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        try:
            meta = consumer.list_topics(topic, timeout=10)
            parts = meta.topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, 0) for p in parts])
            records: list = []
            deadline = time.monotonic() + timeout
            last = time.monotonic()
            while time.monotonic() < deadline:
                if until is not None and len(records) >= until:
                    break
                if idle is not None and time.monotonic() - last > idle:
                    break
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                records.append(msg)
                last = time.monotonic()
            return records
        finally:
            consumer.close()

    def read_json(self, topic: str, **kwargs: Any) -> list[dict]:
        return [json.loads(m.value()) for m in self.read(topic, **kwargs)]


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java ``Utils.murmur2``), written from its spec for checking ours."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    h = (0x9747B28C ^ len(key)) & mask
    full = len(key) // 4 * 4
    for i in range(0, full, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = key[full:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
