"""What the API reads and writes (``Store``), and where it keeps it
(``ApiStore``): three compacted topics held in memory (subscriptions, hooks,
API keys) and one producer, which also writes the change events posted to
``/v1/events``. A write of a record returns once the
broker has it and this process has read it back, so a client that creates
something can read it at once; one not read back within ``READ_BACK_SECONDS``
is a 503 that says it may have been written.

The followers of the three topics run for the process's life: one that ends
is a failure (``on_failure``: logged, and the process exits to be restarted),
never a copy that silently goes stale. ``keys_current`` tells whether the key
list was confirmed recently enough to authenticate with."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from schemas.apikeys import ApiKey
from schemas.audit import Change
from schemas.explain import ExplainReply
from schemas.hooks import Hook
from schemas.subscriptions import ThresholdSubscription

from ..client import operations
from ..client.explain import Kind, explain, explain_many, explain_subscription
from ..client.producer import ChangeEvent, EventProducer
from ..delivery.hooks import HookBook
from ..kafka.codec import encode
from ..kafka.compacted import CompactedView, Records
from ..metrics import Metrics
from ..settings import Settings
from ..topics import Topics
from .problems import ProblemError

log = logging.getLogger("cdp_triggers.api")
READ_BACK_SECONDS = 10.0
EXPLAIN_SECONDS = 10.0  # a worker answers in milliseconds; past this, none holds the key's partition


class Store(Protocol):
    """The API's records and writes. ``ApiStore`` keeps them in Kafka; the routes know nothing else, so a test can
    serve the API in process on a store held in memory."""

    subscriptions: Records[ThresholdSubscription]
    keys: Records[ApiKey]
    hooks: HookBook
    failure: str | None  # why the store stopped following its records

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def not_ready(self) -> str | None: ...
    def require_current_keys(self) -> None: ...
    async def put_subscription(self, sub: ThresholdSubscription) -> None: ...
    async def remove_subscription(self, subscription_id: str) -> None: ...
    async def put_hook(self, hook: Hook) -> None: ...
    async def put_key(self, key: ApiKey) -> None: ...
    async def remove_key(self, key_id: str) -> None: ...
    async def remove_hook(self, hook_id: str) -> None: ...
    async def publish(self, events: Sequence[ChangeEvent]) -> list[RecordMetadata | KafkaError]: ...
    async def explain(self, kind: Kind, ident: str) -> ExplainReply: ...
    async def explain_subscription(self, subscription: ThresholdSubscription) -> ExplainReply: ...
    async def explain_many(self, kind: Kind, idents: list[str]) -> dict[str, ExplainReply]: ...
    async def record(self, change: Change) -> None: ...
    async def changes(self, since: datetime) -> list[Change]: ...
    async def recent_runs(self, since: datetime, limit: int) -> list[operations.RecentRun]: ...


class ApiStore:
    def __init__(self, settings: Settings, metrics: Metrics, on_failure: Callable[[str], None] | None = None) -> None:
        self.topics = Topics(settings)
        self._settings = settings
        self._keys_max_age = settings.api_keys_max_age_seconds
        self._on_failure = on_failure
        self.failure: str | None = None  # why a follower ended
        self.subscriptions: Records[ThresholdSubscription] = Records(
            ThresholdSubscription,
            lambda s: s.subscription_id,
            settings.max_event_bytes,
            on_invalid=lambda message: metrics.subscriptions_invalid.inc(),
        )
        self.keys: Records[ApiKey] = Records(ApiKey, lambda k: k.key_id, settings.max_event_bytes)
        self.hooks = HookBook(settings, metrics)
        self._views = {
            self.topics.subscriptions: CompactedView(settings, self.topics.subscriptions, self.subscriptions.apply),
            self.topics.api_keys: CompactedView(settings, self.topics.api_keys, self.keys.apply),
            self.topics.hooks: self.hooks.view,
        }
        t = self.topics
        self._producer = EventProducer(
            settings, needs=[*self._views, t.datasources, t.segments, t.measures, t.runs, t.audit]
        )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._producer.__aenter__()
        for view in self._views.values():
            await view.load()
        self._tasks = []
        for view in self._views.values():
            task = asyncio.create_task(view.follow(), name=f"follow {view.topic}")
            task.add_done_callback(self._ended)
            self._tasks.append(task)
        log.info(
            "API store loaded: %d subscriptions, %d hooks, %d API keys",
            len(self.subscriptions),
            len(self.hooks.records),
            len(self.keys),
        )

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():  # stop()
            return
        exc = task.exception()
        self.failure = f"{task.get_name()} ended" + (f": {type(exc).__name__}: {exc}" if exc else "")
        log.error("the API's copy of a topic stopped following it (%s)", self.failure, exc_info=exc)
        if self._on_failure is not None:
            self._on_failure(self.failure)

    def keys_age(self) -> float:
        """Seconds since the key list was last confirmed to hold everything written to its topic."""
        return self._views[self.topics.api_keys].age()

    def not_ready(self) -> str | None:
        """Why this API cannot serve now (None: it can): what ``/readyz`` and ``/healthz`` report."""
        if self.failure is not None:
            return f"the API stopped following a topic ({self.failure}); it is restarting"
        if not self._tasks:
            return "loading: reading the subscriptions, hooks and API keys topics"
        age = self.keys_age()
        if age > self._keys_max_age:
            return f"API keys last confirmed current {age:.0f} s ago (limit {self._keys_max_age:g} s)"
        return None

    def require_current_keys(self) -> None:
        """503 unless the key list is known current within ``api_keys_max_age_seconds`` (a revoked key must not
        keep working on a copy that stopped following)."""
        age = self.keys_age()
        if self.failure is not None or age > self._keys_max_age:
            raise ProblemError(
                503,
                f"the API cannot confirm that its list of API keys is current (last confirmed "
                f"{age:.0f} s ago; the limit is {self._keys_max_age:g} s): no key is accepted "
                "until Kafka answers again",
                headers={"Retry-After": "5"},
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.remove_done_callback(self._ended)
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.hooks.close()
        await self._producer.__aexit__(None, None, None)

    async def put_subscription(self, sub: ThresholdSubscription) -> None:
        await self._write(self.topics.subscriptions, sub.subscription_id, encode(sub))

    async def remove_subscription(self, subscription_id: str) -> None:
        await self._write(self.topics.subscriptions, subscription_id, None)

    async def put_hook(self, hook: Hook) -> None:
        await self._write(self.topics.hooks, hook.id, encode(hook))

    async def remove_hook(self, hook_id: str) -> None:
        await self._write(self.topics.hooks, hook_id, None)

    async def put_key(self, key: ApiKey) -> None:
        await self._write(self.topics.api_keys, key.key_id, key.stored())

    async def remove_key(self, key_id: str) -> None:
        await self._write(self.topics.api_keys, key_id, None)

    async def explain(self, kind: Kind, ident: str) -> ExplainReply:
        """Asked of the owning worker through Kafka, as the CLI does; ``NoAnswer`` within ``EXPLAIN_SECONDS``."""
        return await explain(self._settings, kind, ident, EXPLAIN_SECONDS)

    async def explain_subscription(self, subscription: ThresholdSubscription) -> ExplainReply:
        return await explain_subscription(self._settings, subscription, EXPLAIN_SECONDS)

    async def explain_many(self, kind: Kind, idents: list[str]) -> dict[str, ExplainReply]:
        """Each entity's answer, from its owner; those not answered within ``EXPLAIN_SECONDS`` left out."""
        return await explain_many(self._settings, kind, idents, EXPLAIN_SECONDS)

    async def record(self, change: Change) -> None:
        """One change on the audit topic, acknowledged (keyed by the key that made it)."""
        await self._producer.put_record(self.topics.audit, change.by, change.model_dump_json().encode())

    async def changes(self, since: datetime) -> list[Change]:
        return await operations.changes(self._settings, since)

    async def recent_runs(self, since: datetime, limit: int) -> list[operations.RecentRun]:
        return await operations.recent_runs(self._settings, since, limit)

    async def publish(self, events: Sequence[ChangeEvent]) -> list[RecordMetadata | KafkaError]:
        """Change events to their topics, as ``cdp-triggers publish`` writes them (``EventProducer.publish_all``)."""
        return await self._producer.publish_all(events)

    async def _write(self, topic: str, key: str, value: bytes | None) -> None:
        written = await self._producer.put_record(topic, key, value)
        if not await self._views[topic].reached(written.partition, written.offset, READ_BACK_SECONDS):
            log.warning("%s/%s written but not read back within %g s", topic, key, READ_BACK_SECONDS)
            raise ProblemError(
                503,
                f"the change was written to Kafka but this API did not read it back within "
                f"{READ_BACK_SECONDS:g} s, so it may or may not be visible yet: read it back "
                "before retrying",
                headers={"Retry-After": "5"},
            )
