"""Test helpers around the real broker: a different client (confluent-kafka,
librdkafka) produces and reads, and workers run as real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.settings import Settings
from streams.topics import Topics

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"CDP_{name.upper()}"] = str(value)
    return env


def test_settings(bootstrap: str, tmp: Path, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:10]
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


class WorkerProcess:
    """``cdp-triggers worker`` as a real process, with its log captured."""

    def __init__(self, settings: Settings, log_path: Path, command: str = "worker",
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.command = command
        self.extra_env = env or {}
        self.topics = Topics(settings)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *self.command.split()],
            env={**env_for(self.settings), **self.extra_env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                if b"Worker]: Ready" in f.read():
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command} not ready in {timeout} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no commit."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


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
