"""What the API reads and writes: three compacted topics held in memory
(subscriptions, hooks, API keys) and one producer. A write returns once the
broker has it and this process has read it back, so a client that creates
something can read it at once."""

from __future__ import annotations

import asyncio
import logging

from schemas.apikeys import ApiKey
from schemas.hooks import Hook
from schemas.subscriptions import ThresholdSubscription

from ..client.producer import EventProducer
from ..delivery.hooks import HookBook
from ..metrics import Metrics
from ..runtime.codec import encode
from ..runtime.compacted import CompactedView, Records
from ..settings import Settings
from ..topics import Topics

log = logging.getLogger("cdp_triggers.api")


class ApiStore:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.topics = Topics(settings)
        self.subscriptions: Records[ThresholdSubscription] = Records(
            ThresholdSubscription, lambda s: s.subscription_id, settings.max_event_bytes,
            on_invalid=lambda message: metrics.subscriptions_invalid.inc(),
        )  # fmt: skip
        self.keys: Records[ApiKey] = Records(ApiKey, lambda k: k.key_id)
        self.hooks = HookBook(settings, metrics)
        self._views = {
            self.topics.subscriptions: CompactedView(settings, self.topics.subscriptions, self.subscriptions.apply),
            self.topics.api_keys: CompactedView(settings, self.topics.api_keys, self.keys.apply),
            self.topics.hooks: self.hooks.view,
        }
        self._producer = EventProducer(settings, needs=list(self._views))
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._producer.__aenter__()
        for view in self._views.values():
            await view.load()
        self._tasks = [asyncio.create_task(view.follow()) for view in self._views.values()]
        log.info("API store loaded: %d subscriptions, %d hooks, %d API keys",
                 len(self.subscriptions), len(self.hooks.records), len(self.keys))  # fmt: skip

    async def stop(self) -> None:
        for task in self._tasks:
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

    async def _write(self, topic: str, key: str, value: bytes | None) -> None:
        written = await self._producer.put_record(topic, key, value)
        if not await self._views[topic].reached(written.partition, written.offset):
            log.warning("%s/%s written but not read back within 10 s", topic, key)
