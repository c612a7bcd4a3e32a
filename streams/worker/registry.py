"""Threshold subscriptions, held in full by every worker.

Every worker reads the whole compacted subscriptions topic (no consumer group)
and keeps it in memory, indexed by entity. This avoids co-partitioning
subscriptions with change events, which would force every producer onto one
partitioner. The worker loads it to the end before Faust starts (``load``),
so a restarted worker never evaluates an entity against a half-loaded set,
then follows it (``follow``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Iterable

from schemas.subscriptions import ThresholdSubscription

from ..detection.thresholds import Rule
from ..metrics import Metrics
from ..runtime.codec import Decoder, Rejected
from ..runtime.compacted import CompactedView
from ..settings import Settings

log = logging.getLogger(__name__)


class SubscriptionRegistry:
    def __init__(self, metrics: Metrics | None = None, max_bytes: int = 65536) -> None:
        # Compact, for a million subscriptions per worker: the validated record's bytes (parsed again
        # only when a crossing fires or someone lists them) and, per entity, the rules detection needs.
        self._raw: dict[str, bytes] = {}
        self._rules: dict[str, tuple[Rule, ...]] = {}
        self._decoder: Decoder[ThresholdSubscription] = Decoder(ThresholdSubscription, max_bytes)
        self._metrics = metrics
        self.ready = asyncio.Event()
        self._view: CompactedView | None = None

    def __len__(self) -> int:
        return len(self._raw)

    def get(self, subscription_id: str) -> ThresholdSubscription | None:
        raw = self._raw.get(subscription_id)
        return None if raw is None else ThresholdSubscription.model_validate_json(raw)

    def rules_for(self, entity_key: str) -> tuple[Rule, ...]:
        return self._rules.get(entity_key, ())

    def all(self) -> Iterable[ThresholdSubscription]:
        return (ThresholdSubscription.model_validate_json(raw) for raw in self._raw.values())

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of the compacted topic: an upsert, or a tombstone."""
        if key is None:
            self._invalid("record without a key (the key must be the subscription id)")
            return
        subscription_id = key.decode("utf-8", errors="replace")
        if value is None:
            self._remove(subscription_id)
        else:
            sub = self._decoder.decode(value)
            if isinstance(sub, Rejected):
                self._invalid(f"subscription {subscription_id!r}: {sub.reason.value}: {sub.error}")
                return
            if sub.subscription_id != subscription_id:
                self._invalid(f"key {subscription_id!r} differs from subscription_id {sub.subscription_id!r}")
                return
            self._remove(subscription_id)
            key = sys.intern(subscription_id)  # one string shared by the dict and the rule
            self._raw[key] = value
            rule = Rule(key, sub.threshold, sub.rearm_below)
            others = self._rules.get(sub.entity_key, ())
            self._rules[sub.entity_key] = tuple(sorted((*others, rule), key=lambda r: r.subscription_id))
        if self._metrics:
            self._metrics.subscriptions.set(len(self._raw))

    def _remove(self, subscription_id: str) -> None:
        raw = self._raw.pop(subscription_id, None)
        if raw is None:
            return
        entity_key = ThresholdSubscription.model_validate_json(raw).entity_key
        rules = tuple(r for r in self._rules.get(entity_key, ()) if r.subscription_id != subscription_id)
        if rules:
            self._rules[entity_key] = rules
        else:
            self._rules.pop(entity_key, None)

    def _invalid(self, message: str) -> None:
        log.error("ignoring invalid subscription record: %s", message)
        if self._metrics:
            self._metrics.subscriptions_invalid.inc()

    async def load(self, settings: Settings, topic: str) -> None:
        """Read the topic to its end; afterwards ``follow()`` keeps it current.

        The worker calls this before Faust starts: an agent that blocked on a
        half-loaded registry during Faust's start-up could see its buffered
        events skipped and acked by Faust's recovery (found by the SIGKILL test).
        """
        self._view = CompactedView(settings, topic, self.apply)
        await self._view.load()
        self._mark_ready()

    async def follow(self) -> None:
        assert self._view is not None, "load() first"
        await self._view.follow()

    async def close(self) -> None:
        if self._view is not None:
            await self._view.close()

    def _mark_ready(self) -> None:
        log.info("subscriptions loaded: %d active", len(self._raw))
        self.ready.set()


async def load_once(settings: Settings, topic: str) -> SubscriptionRegistry:
    """The subscriptions as they are now (for listing them), without following."""
    registry = SubscriptionRegistry()
    await registry.load(settings, topic)
    await registry.close()
    return registry
