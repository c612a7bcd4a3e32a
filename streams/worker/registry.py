"""Threshold subscriptions, held in full by every worker.

Every worker reads the whole compacted subscriptions topic (no consumer group).
This avoids co-partitioning subscriptions with change events, which would
force every producer onto one partitioner. The worker loads it to the end
before Faust starts (``load``), so a restarted worker never evaluates an
entity against a half-loaded set, then follows it (``follow``).

The registry keeps, per subscription, the validated record's bytes and, per
entity, the rules detection needs (a JSON list: thresholds, and the owner and
labels its triggers carry, so a crossing reads nothing else), in a key-value
store:

- on disk (RocksDB, ``directory``; the worker's default): the records, the
  index and the topic offsets they reach are written together, one atomic
  batch per poll, so a restarted worker reads only the records written since
  and a million subscriptions stay off the Python heap. A recently used
  entity's rules are cached in memory. A local copy that does not fit the
  topic (offsets outside it, another topic, an older ``FORMAT``) or is older than
  ``LOCAL_COPY_MAX_AGE_SECONDS`` (compaction may have dropped tombstones it
  never saw) is discarded and the topic read again from the start;
- in memory (``directory`` None): for listing, and unit tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from schemas.subscriptions import ThresholdSubscription

from ..detection.thresholds import Rule
from ..kafka.codec import Decoder, Rejected
from ..kafka.compacted import CompactedView
from ..metrics import Metrics
from ..runtime.state import Recent
from ..runtime.stores import DiskKV, MemoryKV
from ..settings import Settings

log = logging.getLogger(__name__)

# Kafka keeps a compacted topic's tombstones for delete.retention.ms (1 day by default): a copy older than that
# may have missed a deletion, so it is read again from the start.
LOCAL_COPY_MAX_AGE_SECONDS = 12 * 3600
RULES_CACHE = 100_000  # entities whose decoded rules stay in memory (at most; at least half, the recently used)
# The local copy's layout: a copy in another one is read again from the topic. 2: rules carry owner and labels.
FORMAT = b"2"

_SUB, _ENTITY = b"s\0", b"e\0"  # key prefixes: subscription id -> record; entity key -> rules
_COUNT, _SAVED_AT, _TOPIC, _FORMAT, _OFFSET = b"@count", b"@saved-at", b"@topic", b"@format", b"@offset\0"


class SubscriptionRegistry:
    def __init__(self, metrics: Metrics | None = None, max_bytes: int = 65536, directory: Path | None = None) -> None:
        self._kv: DiskKV | MemoryKV = DiskKV(directory) if directory is not None else MemoryKV()
        self._batch: dict[bytes, bytes | None] = {}  # applied, not yet written to the store (see ``commit``)
        self._rules: Recent[tuple[Rule, ...]] = Recent(RULES_CACHE)  # decoded rules of recently used entities
        # every entity's decoded rules, while at most RULES_CACHE entities have any (``_warm``); else None
        self._every_rule: dict[str, tuple[Rule, ...]] | None = None
        self._decoder: Decoder[ThresholdSubscription] = Decoder(ThresholdSubscription, max_bytes)
        self._metrics = metrics
        self._count = int(self._kv.get(_COUNT) or 0)
        self._saved_at = 0.0
        self.ready = asyncio.Event()
        self._view: CompactedView | None = None

    def __len__(self) -> int:
        return self._count

    def _read(self, key: bytes) -> bytes | None:
        return self._batch[key] if key in self._batch else self._kv.get(key)

    def get(self, subscription_id: str) -> ThresholdSubscription | None:
        raw = self._read(_SUB + subscription_id.encode())
        return None if raw is None else ThresholdSubscription.model_validate_json(raw)

    def rules_for(self, entity_key: str) -> tuple[Rule, ...]:
        if self._every_rule is not None:
            return self._every_rule.get(entity_key, ())
        rules = self._rules.get(entity_key)
        if rules is None:
            raw = self._read(_ENTITY + entity_key.encode())
            rules = () if raw is None else _decoded(orjson.loads(raw))
            self._rules.put(entity_key, rules)
        return rules

    def _warm(self) -> None:
        """Decode the rules before input arrives (first sight of an entity then costs no store read or rule
        building): every entity's, when at most RULES_CACHE entities have any, so that an entity without
        subscriptions is known to have none; else RULES_CACHE of them in the cache."""
        if self._batch:
            self.commit({})
        every: dict[str, tuple[Rule, ...]] = {}
        for key, raw in self._kv.items(_ENTITY):
            every[key[len(_ENTITY) :].decode()] = _decoded(orjson.loads(raw))
            if len(every) > RULES_CACHE:
                break
        if len(every) <= RULES_CACHE:
            self._every_rule = every
        else:
            for entity_key, rules in every.items():  # the cache keeps at most RULES_CACHE of them
                self._rules.put(entity_key, rules)

    def all(self) -> Iterable[ThresholdSubscription]:
        if self._batch:
            self.commit({})
        return (ThresholdSubscription.model_validate_json(raw) for _, raw in self._kv.items(_SUB))

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of the compacted topic: an upsert, or a tombstone (stored by ``commit``)."""
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
            self._batch[_SUB + key] = value
            self._count += 1
            rules = [r for r in self._entity_rules(sub.entity_key) if r[0] != subscription_id]
            rule = [subscription_id, sub.threshold, sub.rearm_below, sub.owner, sub.labels]
            self._set_rules(sub.entity_key, sorted([*rules, rule], key=lambda r: r[0]))
        if self._metrics:
            self._metrics.subscriptions.set(self._count)

    def _entity_rules(self, entity_key: str) -> list[list[Any]]:
        raw = self._read(_ENTITY + entity_key.encode())
        return [] if raw is None else orjson.loads(raw)

    def _set_rules(self, entity_key: str, rules: list[list[Any]]) -> None:
        self._batch[_ENTITY + entity_key.encode()] = orjson.dumps(rules) if rules else None
        self._rules.pop(entity_key)
        every = self._every_rule
        if every is not None:
            if rules:
                every[entity_key] = _decoded(rules)
            else:
                every.pop(entity_key, None)
            if len(every) > RULES_CACHE:  # no longer all in memory: the store and the cache again
                self._every_rule = None

    def _remove(self, subscription_id: str) -> None:
        key = _SUB + subscription_id.encode()
        raw = self._read(key)
        if raw is None:
            return
        old = orjson.loads(raw)  # validated when it was applied
        entity_key = f"{old['entity_kind']}/{old['entity_id']}"
        self._set_rules(entity_key, [r for r in self._entity_rules(entity_key) if r[0] != subscription_id])
        self._batch[key] = None
        self._count -= 1

    def commit(self, offsets: dict[int, int]) -> None:
        """Store what was applied, with the topic offsets it reaches (the next to read, per partition);
        with nothing new, only say now and then that the copy is current."""
        now = time.time()
        if not self._batch and not offsets and now - self._saved_at < 60:
            return
        changes = {**self._batch, _COUNT: str(self._count).encode(), _SAVED_AT: str(now).encode()}
        changes.update({_OFFSET + str(p).encode(): str(o).encode() for p, o in offsets.items()})
        self._kv.write(changes)
        self._batch, self._saved_at = {}, now

    def offsets(self, topic: str) -> dict[int, int] | None:
        """Where the local copy stands in ``topic``, or None when it is empty, of another topic, or too old."""
        saved_at = self._kv.get(_SAVED_AT)
        if self._kv.get(_TOPIC) != topic.encode() or saved_at is None:
            return None
        if self._kv.get(_FORMAT) != FORMAT:
            log.info("local copy of the subscriptions is in an older format: reading the topic again")
            return None
        if time.time() - float(saved_at) > LOCAL_COPY_MAX_AGE_SECONDS:
            log.info(
                "local copy of the subscriptions is older than %d s: reading the topic again",
                LOCAL_COPY_MAX_AGE_SECONDS,
            )
            return None
        return {int(k[len(_OFFSET) :]): int(v) for k, v in self._kv.items(_OFFSET)}

    def reset(self, topic: str) -> None:
        """Forget the local copy: the topic is read again from its start."""
        self._kv.clear()
        self._kv.write({_TOPIC: topic.encode(), _FORMAT: FORMAT})
        self._batch, self._count = {}, 0
        self._rules.clear()
        self._every_rule = None

    def _invalid(self, message: str) -> None:
        log.error("ignoring invalid subscription record: %s", message)
        if self._metrics:
            self._metrics.subscriptions_invalid.inc()

    async def load(self, settings: Settings, topic: str) -> None:
        """Read the topic to its end (from where the local copy stands); afterwards ``follow()`` keeps it current.

        The worker calls this before Faust starts: an agent that blocked on a
        half-loaded registry during Faust's start-up could see its buffered
        events skipped and acked by Faust's recovery (found by the SIGKILL test).
        """
        began = time.monotonic()
        start = self.offsets(topic)
        if start is None:
            self.reset(topic)
        self._view = CompactedView(settings, topic, self.apply, on_batch=self.commit)
        if not await self._view.load(start):
            self.reset(topic)
            await self._view.load(None)
        self._warm()
        log.info(
            "subscriptions loaded: %d active (%s, %.1f s)",
            self._count,
            "from the local copy and the topic since" if start is not None and self._count else "from the topic",
            time.monotonic() - began,
        )
        self.ready.set()

    def unconfirmed(self, limit: float) -> str | None:
        """Why the registry cannot be trusted as current (see ``CompactedView.unconfirmed``); None before load."""
        return None if self._view is None else self._view.unconfirmed(limit)

    async def follow(self) -> None:
        assert self._view is not None, "load() first"
        await self._view.follow()

    async def close(self) -> None:
        if self._view is not None:
            await self._view.close()
        self._kv.close()


def _decoded(rules: list[list[Any]]) -> tuple[Rule, ...]:
    return tuple(
        Rule(sid, threshold, rearm_below, owner, tuple(labels.items()))
        for sid, threshold, rearm_below, owner, labels in rules
    )


async def load_once(settings: Settings, topic: str) -> SubscriptionRegistry:
    """The subscriptions as they are now (for listing them), without following."""
    registry = SubscriptionRegistry()
    await registry.load(settings, topic)
    await registry.close()
    return registry
