"""The topics of the pipeline, and creating them (idempotent)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from .settings import Settings

DAY_MS = 24 * 3600 * 1000
DISPATCHER_AGENT = "deliveries"


class MissingTopicsError(Exception):
    """Topics a command needs do not exist (yet)."""

    def __init__(self, missing: list[str]) -> None:
        names = ", ".join(missing)
        super().__init__(f"topic {names} does not exist" if len(missing) == 1 else f"topics {names} do not exist")


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


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


class Topics:
    """Names of every topic, derived from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.datasources = settings.topic("datasource-changes")
        self.segments = settings.topic("segment-changes")
        self.measures = settings.topic("measure-changes")
        self.runs = settings.topic("refresh-runs")
        self.subscriptions = settings.topic("subscriptions")
        self.actions = settings.topic("actions")
        self.dead_letter = settings.topic("dead-letter")
        self.delivery_dead_letter = settings.topic("delivery-dead-letter")
        self._settings = settings

    AGENTS = ("datasources", "thresholds", "runs")

    def control(self, agent: str) -> str:
        """Internal topic of one agent: timer ticks and nudges, partitioned like its inputs."""
        return f"{self._settings.app_id}-{agent}-control"

    @property
    def dispatcher_control(self) -> str:
        return f"{self._settings.dispatcher_app_id}-{DISPATCHER_AGENT}-control"

    def specs(self) -> list[TopicSpec]:
        n = self._settings.partitions
        week = {"retention.ms": str(7 * DAY_MS)}
        return [
            TopicSpec(self.datasources, n, week, "data-source refresh status (key: data source id)"),
            TopicSpec(self.segments, n, week, "segment member counts (key: segment id)"),
            TopicSpec(self.measures, n, week, "business-measure values (key: measure id)"),
            TopicSpec(self.runs, n, week, "refresh-run progress (key: run id)"),
            TopicSpec(
                self.subscriptions, n, {"cleanup.policy": "compact"},
                "threshold subscriptions, compacted (key: subscription id; null value removes)",
            ),
            TopicSpec(self.actions, n, week, "trigger events, CloudEvents JSON (key: subject)"),
            TopicSpec(self.dead_letter, 1, {"retention.ms": str(30 * DAY_MS)}, "rejected input with reason"),
            TopicSpec(self.delivery_dead_letter, 1, {"retention.ms": str(30 * DAY_MS)},
                      "trigger events a receiver did not take, with reason (key: trigger id)"),
            TopicSpec(self.dispatcher_control, n, {"retention.ms": str(DAY_MS)}, "internal: dispatcher sweeps and nudges"),
            *(TopicSpec(self.control(a), n, {"retention.ms": str(DAY_MS)}, f"internal: {a} agent ticks and nudges")
              for a in self.AGENTS),
        ]  # fmt: skip


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (asyncio.TimeoutError, KafkaConnectionError) as exc:
        raise ConnectionError(f"Kafka is not reachable at {settings.kafka_bootstrap} ({exc!r})") from None
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
