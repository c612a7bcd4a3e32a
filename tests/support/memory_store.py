"""The API served in process, on a store held in memory: what its routes decide (validation, scopes, problems,
limits) tested without a broker or a process. Records go through the same encoding and the same ``Records`` as
on Kafka; ``tests/api`` keeps on the real broker only what needs it (durability, following, the producer)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata, TopicPartition
from fastapi.testclient import TestClient

from schemas.apikeys import ApiKey, Scope, issue
from schemas.audit import Change
from schemas.hooks import Hook
from schemas.subscriptions import ThresholdSubscription
from streams.api.app import create_api
from streams.api.store import Store
from streams.client.producer import ChangeEvent, encoded, route
from streams.delivery.hooks import HookBook
from streams.kafka.codec import encode, within
from streams.kafka.compacted import Records
from streams.metrics import Metrics
from streams.settings import Settings
from streams.topics import Topics
from tests.support.api import SIGNING_KEY
from tests.support.kafka import murmur2_partition


@dataclass
class Written:
    topic: str
    key: bytes
    value: bytes | None
    partition: int
    offset: int


class MemoryStore:
    """``Store`` in memory. ``refuse`` makes the next publishes fail with that Kafka error (as a broker that is
    down, or refuses a record, would)."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self._settings = settings
        self.topics = Topics(settings)
        self.subscriptions: Records[ThresholdSubscription] = Records(
            ThresholdSubscription, lambda s: s.subscription_id, settings.max_event_bytes
        )
        self.keys: Records[ApiKey] = Records(ApiKey, lambda k: k.key_id, settings.max_event_bytes)
        self.hooks = HookBook(settings, metrics)
        self.failure: str | None = None
        self.keys_current = True
        self.refuse: KafkaError | None = None
        self.written: list[Written] = []
        self.recorded: list[Change] = []  # the audit trail
        self._offsets: dict[tuple[str, int], int] = {}

    # the Store interface
    async def explain(self, kind: str, ident: str) -> Any:
        """No worker here: what the API answers when none answers in time."""
        from streams.client.explain import NoAnswer

        raise NoAnswer(f"no worker answered for {kind} {ident!r} (an in-process test has none)")

    async def explain_subscription(self, subscription: Any) -> Any:
        return await self.explain(subscription.entity_kind, subscription.entity_id)

    async def explain_many(self, kind: str, idents: list[str]) -> dict[str, Any]:
        return {}  # no worker here

    async def record(self, change: Change) -> None:
        self.recorded.append(change)

    async def changes(self, since: Any) -> list[Change]:
        return [c for c in self.recorded if c.at >= since]

    async def recent_runs(self, since: Any, limit: int) -> list[Any]:
        return []  # no runs topic here

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self.hooks.close()

    def not_ready(self) -> str | None:
        return self.failure

    def require_current_keys(self) -> None:
        if not self.keys_current:
            from streams.api.problems import ProblemError

            raise ProblemError(503, "the key list is not current (a test said so)", headers={"Retry-After": "5"})

    async def put_subscription(self, sub: ThresholdSubscription) -> None:
        self._put(self.topics.subscriptions, sub.subscription_id, encoded(sub, self._settings.max_event_bytes))

    async def remove_subscription(self, subscription_id: str) -> None:
        self._put(self.topics.subscriptions, subscription_id, None)

    async def put_hook(self, hook: Hook) -> None:
        self._put(self.topics.hooks, hook.id, within(encode(hook), self._settings.max_event_bytes, hook.id))

    async def remove_hook(self, hook_id: str) -> None:
        self._put(self.topics.hooks, hook_id, None)

    async def put_key(self, key: ApiKey) -> None:
        self._put(self.topics.api_keys, key.key_id, key.stored())

    async def remove_key(self, key_id: str) -> None:
        self._put(self.topics.api_keys, key_id, None)

    async def publish(self, events: Sequence[ChangeEvent]) -> list[RecordMetadata | KafkaError]:
        outcomes: list[RecordMetadata | KafkaError] = []
        for event in events:
            topic, key = route(self.topics, event)
            value = encoded(event, self._settings.max_event_bytes)
            outcomes.append(self.refuse if self.refuse is not None else self._record(topic, key.encode(), value))
        return outcomes

    # for tests
    def add_key(self, scope: Scope = "write", name: str = "tests") -> str:
        """A new API key of ``scope``, as ``cdp-triggers api-keys create`` makes it; the full key is returned."""
        record, full = issue(name, scope)
        self.keys.apply(record.key_id.encode(), record.stored())
        return full

    def revoke(self, key_id: str) -> None:
        self.keys.apply(key_id.encode(), None)

    def _put(self, topic: str, key: str, value: bytes | None) -> None:
        self._record(topic, key.encode(), value)
        apply = {self.topics.hooks: self.hooks.apply, self.topics.api_keys: self.keys.apply}.get(
            topic, self.subscriptions.apply
        )
        apply(key.encode(), value)

    def _record(self, topic: str, key: bytes, value: bytes | None) -> RecordMetadata:
        partition = murmur2_partition(key, self._settings.partitions)
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        self.written.append(Written(topic, key, value, partition, offset))
        return RecordMetadata(topic, partition, TopicPartition(topic, partition), offset, -1, 0, -1)


def memory_settings(tmp: Any = None, **overrides: Any) -> Settings:
    """Settings of an API that reaches nothing: a bootstrap no test connects to, throwaway topic names."""
    values: dict[str, Any] = dict(
        kafka_bootstrap="127.0.0.1:9",  # the discard port: nothing here ever dials it
        app_id="in-process",
        topic_prefix="mem.",
        partitions=2,
        hook_signing_key=SIGNING_KEY,
        metrics_port=0,
    )
    if tmp is not None:
        values["data_dir"] = tmp
    return Settings(**{**values, **overrides})


@dataclass
class InProcessApi:
    """A ``TestClient`` on ``create_api`` and a ``MemoryStore``; ``call`` sends ``key`` unless told otherwise."""

    client: TestClient
    store: MemoryStore
    settings: Settings
    key: str
    metrics: Metrics = field(default_factory=Metrics)

    def call(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"X-API-Key": key if key is not None else self.key, **kwargs.pop("headers", {})}
        if "data" in kwargs:  # requests' name for a raw body
            kwargs["content"] = kwargs.pop("data")
        return self.client.request(method, path, headers=headers, **kwargs)

    def with_key(self, scope: Scope = "write") -> InProcessApi:
        return InProcessApi(self.client, self.store, self.settings, self.store.add_key(scope), self.metrics)


@contextmanager
def in_process_api(settings: Settings | None = None, scope: Scope = "write") -> Iterator[InProcessApi]:
    settings = settings or memory_settings()
    metrics = Metrics()
    store = MemoryStore(settings, metrics)
    _check: Store = store  # the type checker holds MemoryStore to the interface
    with TestClient(create_api(settings, store, metrics), base_url="http://127.0.0.1") as client:
        yield InProcessApi(client, store, settings, store.add_key(scope), metrics)
