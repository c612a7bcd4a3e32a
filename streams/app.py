"""The Faust application: configuration, shared parts, and agent registration."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import faust
import orjson

from schemas.deadletter import DeliveryDeadLetter
from schemas.triggers import TriggerEvent, dataschema_for

from . import faust_fixes
from .codec import Decoder, Rejected, dead_letter, encode
from .continuity import GapReader, Incoming, OffsetLedger
from .core.emit import Trigger
from .core.ordering import Verdict
from .metrics import Metrics
from .registry import SubscriptionRegistry
from .settings import Settings
from .delivery.config import Routes
from .topics import DISPATCHER_AGENT, Topics

log = logging.getLogger("cdp_triggers")

RAW = {"key_serializer": "raw", "value_serializer": "raw"}
# Changelogs are compacted, but Kafka only compacts closed segments (1 GiB by default): without smaller,
# time-bounded segments a restarted worker replays every write ever made (benchmarks: 167 s for 1M events).
CHANGELOG_CONFIG = {"segment.bytes": str(32 << 20), "segment.ms": str(3600_000), "min.cleanable.dirty.ratio": "0.2"}


class Publisher:
    """Sends to the actions and dead-letter topics and waits for the broker's
    acknowledgement, so the table write that follows never gets ahead of the
    output (see the README, 'Delivery guarantees')."""

    def __init__(self, app: faust.App, settings: Settings, topics: Topics, metrics: Metrics) -> None:
        self._actions = app.topic(topics.actions, **RAW)
        self._dead_letter = app.topic(topics.dead_letter, **RAW)
        self._delivery_dead_letter = app.topic(topics.delivery_dead_letter, **RAW)
        self._source = f"/cdp-triggers/{settings.app_id}"
        self._worker = settings.app_id
        self._metrics = metrics

    def envelope(self, trigger: Trigger) -> TriggerEvent:
        return TriggerEvent(
            id=trigger.id,
            source=self._source,
            type=trigger.type,
            subject=trigger.subject,
            time=trigger.time,
            dataschema=dataschema_for(trigger.type),
            data=trigger.data.model_dump(mode="json"),
        )

    async def trigger(self, trigger: Trigger) -> None:
        event = self.envelope(trigger)
        headers = {"content-type": b"application/cloudevents+json", "ce-type": trigger.type.value.encode()}
        await self._send(self._actions, trigger.subject.encode(), encode(event), headers)
        self._metrics.triggers.labels(trigger.type.short).inc()
        lag = time.time() - trigger.time.timestamp()
        self._metrics.detection_latency.labels(trigger.type.short).observe(max(lag, 0.0))
        log.debug("trigger %s %s id=%s", trigger.type.short, trigger.subject, trigger.id)  # info cost 7% of CPU

    async def dead_letter(self, msg: Incoming, rejected: Rejected) -> None:
        record = dead_letter(
            rejected,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            timestamp_ms=msg.timestamp_ms,
            key=msg.key,
            value=msg.value,
            worker=self._worker,
        )
        headers = {"reason": rejected.reason.value.encode(), "source-topic": msg.topic.encode()}
        await self._send(self._dead_letter, msg.key, encode(record), headers)
        self._metrics.events_invalid.labels(msg.topic, rejected.reason.value).inc()
        self._metrics.dead_lettered.labels(msg.topic).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s: %s", msg.topic, msg.partition, msg.offset, rejected.reason.value,
            rejected.error[:300],
        )  # fmt: skip

    async def delivery_dead_letter(self, record: DeliveryDeadLetter) -> None:
        headers = {"reason": record.reason.value.encode(), "receiver": record.receiver.encode()}
        await self._send(self._delivery_dead_letter, record.trigger_id.encode(), encode(record), headers)

    async def _send(self, topic: Any, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        try:
            pending = await topic.send(key=key, value=value, headers=headers)
            await pending
        except Exception:
            self._metrics.send_errors.labels(topic.get_topic_name()).inc()
            raise  # the agent crashes; the event is not committed and is retried after restart


@dataclass
class Pipeline:
    """Everything the agents share."""

    app: faust.App
    settings: Settings
    topics: Topics
    metrics: Metrics
    publisher: Publisher
    registry: SubscriptionRegistry
    gaps: GapReader
    state_tables: dict[str, Any] = field(default_factory=dict)

    def input_topic(self, *names: str) -> Any:
        return self.app.topic(*names, partitions=self.settings.partitions, **RAW)

    def input_agent(
        self,
        name: str,
        topics: list[str],
        handle: Callable[[Incoming], Awaitable[None]],
        on_control: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> Any:
        """An agent applying ``handle`` to every message of ``topics`` in offset
        order, re-reading any that Faust skipped (see ``continuity``).

        It also reads its own internal control topic (same partition count):
        ``nudge`` messages, sent by a timer when an input partition stopped
        short of its end, and anything else for ``on_control`` (the runs
        agent's ticks). A control message on partition p acts on state of
        partition p, so table writes stay co-partitioned."""
        ledger = OffsetLedger(
            self.table(f"{name}-offsets", state=False), self.gaps,
            on_gap=lambda topic, n: self.metrics.gap_rereads.labels(topic).inc(n),
        )  # fmt: skip
        control_topic = self.topics.control(name)
        channel = self.input_topic(*topics, control_topic)

        async def process(stream: Any) -> None:
            async for event in stream.events():
                message = event.message
                if message.topic == control_topic:
                    command = orjson.loads(event.value)
                    if command["kind"] == "nudge":
                        for skipped in await ledger.missing_at_end(command["topic"], message.partition):
                            await self._apply(name, handle, ledger, skipped)
                    elif on_control is not None:
                        await on_control(command)
                    continue
                incoming = Incoming.from_faust(message)
                for skipped in await ledger.missing_before(incoming):
                    await self._apply(name, handle, ledger, skipped)
                await self._apply(name, handle, ledger, incoming)

        control = self.app.topic(control_topic, **RAW)
        seen: dict[tuple[str, int], int | None] = {}

        @self.app.timer(interval=self.settings.continuity_check_interval_seconds, name=f"{name}-continuity")
        async def check_continuity() -> None:
            assigned = [(tp.topic, tp.partition) for tp in self.app.consumer.assignment() if tp.topic in topics]
            stuck, lag = await ledger.check(assigned, seen)
            for topic in topics:
                self.metrics.lag.labels(topic).set(lag.get(topic, 0))
            for topic, partition in stuck:
                await control.send(key=None, value=orjson.dumps({"kind": "nudge", "topic": topic}),
                                   partition=partition)  # fmt: skip

        return self.app.agent(channel, name=name)(process)

    async def decode(self, decoder: Decoder[Any], msg: Incoming) -> Any | None:
        """The validated event, or None once it has been dead-lettered."""
        event = decoder.decode(msg.value)
        if isinstance(event, Rejected):
            await self.publisher.dead_letter(msg, event)
            return None
        return event

    def applies(self, msg: Incoming, verdict: Verdict) -> bool:
        """False, and counted, for a stale or duplicate event."""
        if verdict is Verdict.APPLY:
            return True
        self.metrics.events_ignored.labels(msg.topic, verdict.value).inc()
        return False

    async def _apply(self, agent: str, handle: Callable[[Incoming], Awaitable[None]], ledger: OffsetLedger,
                     incoming: Incoming) -> None:  # fmt: skip
        started = time.perf_counter()
        self.metrics.events_consumed.labels(incoming.topic).inc()
        await handle(incoming)
        ledger.applied(incoming)
        self.metrics.processing.labels(agent).observe(time.perf_counter() - started)

    def table(self, name: str, *, state: bool = True) -> Any:
        """A table with JSON keys (str after recovery) and JSON values; ``state``
        tables are reported in ``cdp_triggers_state_entries``."""
        schema = faust.Schema(key_serializer="json", value_serializer="json")
        table = self.app.Table(name, default=None, partitions=self.settings.partitions, schema=schema,
                               extra_topic_configs=CHANGELOG_CONFIG)  # fmt: skip
        if state:
            self.state_tables[name] = table
        return table


def _pipeline(settings: Settings, metrics: Metrics | None) -> Pipeline:
    faust_fixes.apply()
    datadir = settings.data_dir / settings.app_id  # worker and dispatcher may share CDP_DATA_DIR
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(datadir),
        processing_guarantee="at_least_once",
        broker_commit_interval=settings.commit_interval_seconds,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        consumer_group_instance_id=settings.instance_id,
        producer_acks=-1,
        producer_linger_ms=0,  # triggers are awaited one by one: a linger would add to each (see benchmarks)
        web_enabled=False,
        loghandlers=[],
    )
    metrics = metrics or Metrics()
    topics = Topics(settings)
    pipeline = Pipeline(
        app=app,
        settings=settings,
        topics=topics,
        metrics=metrics,
        publisher=Publisher(app, settings, topics, metrics),
        registry=SubscriptionRegistry(metrics, settings.max_event_bytes),
        gaps=GapReader(settings.kafka_bootstrap),
    )

    @app.timer(interval=settings.continuity_check_interval_seconds)
    async def report_state_size() -> None:
        for name, table in pipeline.state_tables.items():
            metrics.state_entries.labels(name).set(len(table))

    @app.on_before_shutdown.connect
    async def _close_gap_reader(sender: Any, **kwargs: Any) -> None:
        await pipeline.gaps.close()

    @app.on_rebalance_complete.connect
    async def _joined(sender: Any, **kwargs: Any) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in app.consumer.assignment():
            if not tp.topic.endswith("-changelog"):
                by_topic.setdefault(tp.topic, []).append(tp.partition)
        described = ", ".join(f"{t}{sorted(ps)}" for t, ps in sorted(by_topic.items()))
        count = sum(len(ps) for ps in by_topic.values())
        log.info("joined consumer group %s; assigned %d partitions: %s", settings.app_id, count, described)

    return pipeline


def create_app(settings: Settings, metrics: Metrics | None = None) -> Pipeline:
    """The detection worker: change events in, trigger events out."""
    pipeline = _pipeline(settings, metrics)
    from .agents import datasources, runs, thresholds

    datasources.register(pipeline)
    thresholds.register(pipeline)
    runs.register(pipeline)

    t = pipeline.topics
    pipeline.metrics.preset([t.datasources, t.segments, t.measures, t.runs], [t.actions, t.dead_letter], list(Topics.AGENTS))

    @pipeline.app.task
    async def follow_subscriptions() -> None:
        await pipeline.registry.follow()

    return pipeline


def create_dispatcher(settings: Settings, routes: Routes, metrics: Metrics | None = None) -> Pipeline:
    """The dispatcher: trigger events in, deliveries out. Its own consumer group
    and state, so a slow receiver never holds up detection."""
    pipeline = _pipeline(settings.model_copy(update={"app_id": settings.dispatcher_app_id}), metrics)
    from .agents import dispatcher

    dispatcher.register(pipeline, routes)
    t = pipeline.topics
    pipeline.metrics.preset([t.actions], [t.delivery_dead_letter], [DISPATCHER_AGENT])
    pipeline.metrics.preset_delivery(sorted({r.spec.kind for r in routes.receivers.values()}))
    return pipeline
