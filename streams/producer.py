"""A small typed producer: validates change events with our models and sends
each to its topic, keyed by its entity id (Java-compatible murmur2 partitioning,
so one entity's events stay on one partition whatever client wrote earlier ones).

    async with EventProducer(load_settings()) as producer:
        await producer.publish(SegmentChange(...))
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import yaml
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas.events import DataSourceChange, MeasureChange, RefreshRunStarted, SegmentChange, TaskProgress
from schemas.subscriptions import SubscriptionFile, ThresholdSubscription

from .codec import encode
from .settings import Settings
from .topics import Topics

ChangeEvent = Union[DataSourceChange, SegmentChange, MeasureChange, RefreshRunStarted, TaskProgress]


class SubscriptionFileError(Exception):
    """A subscriptions YAML file that cannot be used, with the reason."""


def read_subscription_file(path: Path) -> list[ThresholdSubscription]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SubscriptionFileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SubscriptionFileError(f"{path} is not valid YAML: {exc}") from None
    try:
        subs = SubscriptionFile.model_validate(document).subscriptions
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SubscriptionFileError(f"{path}: {where}: {first['msg']}") from None
    ids = [s.subscription_id for s in subs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SubscriptionFileError(f"{path}: duplicate subscription_id: {', '.join(duplicates)}")
    return subs


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self.topics = Topics(settings)
        self._producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)

    async def __aenter__(self) -> EventProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    def route(self, event: ChangeEvent) -> tuple[str, str]:
        """(topic, key) for a change event."""
        if isinstance(event, DataSourceChange):
            return self.topics.datasources, event.data_source_id
        if isinstance(event, SegmentChange):
            return self.topics.segments, event.segment_id
        if isinstance(event, MeasureChange):
            return self.topics.measures, event.measure_id
        if isinstance(event, (RefreshRunStarted, TaskProgress)):
            return self.topics.runs, event.run_id
        raise TypeError(f"not a change event: {type(event).__name__}")

    async def publish(self, event: ChangeEvent) -> None:
        """Send and wait for the broker's acknowledgement."""
        topic, key = self.route(event)
        await self._producer.send_and_wait(topic, encode(event), key=key.encode())

    async def put_subscription(self, sub: ThresholdSubscription) -> None:
        await self._producer.send_and_wait(
            self.topics.subscriptions, encode(sub), key=sub.subscription_id.encode()
        )

    async def remove_subscription(self, subscription_id: str) -> None:
        await self._producer.send_and_wait(self.topics.subscriptions, None, key=subscription_id.encode())
