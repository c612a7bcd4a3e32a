"""The one place Kafka clients are built, and the topics they need.

Every client of the project (Faust, the gap reader, the subscription registry,
the producer library, the admin calls, ``tail`` and the demo) is made here
from the same ``Settings``, so a connection option is added once for all.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from ..settings import Settings
from ..topics import Topics


class MissingTopicsError(Exception):
    """Topics a command needs do not exist (yet)."""

    def __init__(self, missing: list[str]) -> None:
        names = ", ".join(missing)
        super().__init__(f"topic {names} does not exist" if len(missing) == 1 else f"topics {names} do not exist")


class KafkaConnection:
    """Builds clients; each is created on call, inside the loop that will run it
    (aiokafka binds a client to the loop running at construction)."""

    def __init__(self, settings: Settings) -> None:
        self.bootstrap = settings.kafka_bootstrap

    def _common(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap}

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, **self._common(), **options)

    def producer(self, **options: Any) -> AIOKafkaProducer:
        return AIOKafkaProducer(**self._common(), **options)

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self._common(), **options)

    def faust_broker(self) -> list[str]:
        return [f"kafka://{server.strip()}" for server in self.bootstrap.split(",")]


async def require_topics(
    existing: Callable[[], Awaitable[Iterable[str]]], wanted: Iterable[str], patience: float = 5.0
) -> None:
    """Return once every wanted topic exists; MissingTopicsError after ``patience``
    seconds. A topic created a moment ago can be missing from the first metadata
    answer, so one look is not enough; aiokafka itself would block for 40 s."""
    deadline = time.monotonic() + patience
    while True:
        missing = sorted(set(wanted) - set(await existing()))
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise MissingTopicsError(missing)
        await asyncio.sleep(0.25)


async def require_topic(settings: Settings, topic: str) -> None:
    """MissingTopicsError when ``topic`` does not exist."""
    admin = KafkaConnection(settings).admin()
    await admin.start()
    try:
        await require_topics(admin.list_topics, [topic])
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; return the names created."""
    connection = KafkaConnection(settings)
    admin = connection.admin(request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (asyncio.TimeoutError, KafkaConnectionError) as exc:
        raise ConnectionError(f"Kafka is not reachable at {connection.bootstrap} ({exc!r})") from None
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in Topics(settings).specs() if s.name not in existing]
        if missing:
            new = [
                NewTopic(s.name, s.partitions, settings.replication_factor, topic_configs=s.config) for s in missing
            ]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another worker created them first
            # Created is not yet usable: return once the metadata that clients read lists them.
            await require_topics(admin.list_topics, [s.name for s in missing], patience=timeout_s)
        return [s.name for s in missing]
    finally:
        await admin.close()
