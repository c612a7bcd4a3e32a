"""The Faust application factory: one configuration for the worker and the
dispatcher, each with its own app id (consumer group, internal topics)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import faust

from ..kafka.clients import KafkaConnection
from ..kafka.health import Health
from ..kafka.schema_registry import WriterSchemas
from ..metrics import Metrics
from ..settings import ConfigError, Settings
from ..topics import Topics
from . import faust_api, faust_fixes
from .continuity import GapReader, OffsetLedger
from .pipeline import FLUSH_SECONDS, Pipeline, Publisher
from .progress import Since, stuck_for, worst_by_topic

log = logging.getLogger("cdp_triggers")


def _credentials(connection: KafkaConnection) -> Any:
    """The connection as Faust's credentials (it hands them to aiokafka for the consumer and producer)."""
    if connection.sasl is not None:
        return faust.SASLCredentials(
            username=connection.sasl.username,
            password=connection.sasl.password,
            ssl_context=connection.ssl_context,
            mechanism=connection.sasl.mechanism,
        )
    if connection.ssl_context is not None:
        return faust.SSLCredentials(connection.ssl_context)
    return None


def state_dir(settings: Settings) -> Path:
    """This process's folder: worker and dispatcher may share CDP_DATA_DIR, and several workers of one group
    a machine (RocksDB locks its files)."""
    return settings.data_dir / settings.app_id / (settings.instance_id or "default")


def writable_state_dir(settings: Settings) -> Path:
    """``state_dir``, made and proved writable; else ConfigError in one sentence: a container whose data directory
    is not a writable volume is the usual cause, and Faust would otherwise fail later with a bare traceback."""
    path = state_dir(settings)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        raise ConfigError(
            f"CDP_DATA_DIR: cannot write {path} as uid {os.getuid()} ({exc.strerror}). Hint: make "
            f"{settings.data_dir} a directory that uid owns (in a container, mount a writable volume there)."
        ) from None
    return path


def faust_app(settings: Settings, connection: KafkaConnection) -> faust.App:
    faust_fixes.apply()
    datadir = writable_state_dir(settings)
    return faust.App(
        settings.app_id,
        broker=connection.faust_broker(),
        broker_credentials=_credentials(connection),
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
        producer_request_timeout=settings.kafka_timeout_seconds,  # Faust's 1,200 s would outlast every bound
        producer_linger_ms=1,  # Faust's own sends (control commands, delivery records) share requests
        web_enabled=False,
        loghandlers=[],
        Monitor=faust_api.QuietMonitor,
    )


def pipeline(settings: Settings, metrics: Metrics | None = None) -> Pipeline:
    """A Faust app with what every agent shares, and the timers and log lines
    every process has (state sizes, the 'joined consumer group' line)."""
    connection = KafkaConnection(settings)
    app = faust_app(settings, connection)
    metrics = metrics or Metrics()
    topics = Topics(settings)
    health = Health(metrics, settings.loop_timeout_seconds)
    timeout = settings.kafka_timeout_seconds
    reader = GapReader(connection, bound=lambda what, detail: health.bounded(what, timeout, detail))
    ledger = OffsetLedger(reader, settings.app_id, on_gap=lambda topic, n: metrics.gap_rereads.labels(topic).inc(n))
    faust_fixes.commit_from(app, ledger)
    faust_fixes.bound_commits(
        app,
        lambda: health.bounded("commit", timeout, "an offset commit (the producer's flush, then the commit request)"),
    )
    p = Pipeline(
        app=app,
        settings=settings,
        topics=topics,
        metrics=metrics,
        publisher=Publisher(app, settings, topics, metrics),
        ledger=ledger,
        health=health,
        writers=WriterSchemas(
            settings,
            lambda what, detail: health.bounded(what, settings.progress_timeout_seconds, detail),
            lambda outcome: metrics.schema_fetches.labels(outcome).inc(),
        )
        if settings.schema_registry_url
        else None,
    )
    health.set_check("started", "Faust is starting: joining the group, restoring state")
    # A rebalance, and the restores it brings, happen to every member at once: they gate only the first readiness
    health.add_check("rebalance", lambda: "a rebalance is under way" if app.rebalancing else None, until_ready=True)
    health.add_check(
        "recovery", lambda: "restoring state from the changelogs" if app.in_recovery else None, until_ready=True
    )

    since: dict[tuple[str, int], Since] = {}
    reported: set[str] = set()  # topics with a stuck-time gauge: a topic whose partitions were revoked goes to 0

    @faust_api.timer(app, settings.continuity_check_interval_seconds)
    async def check_progress() -> None:
        """Committed offsets must follow what was applied (``progress``): a partition stuck past the bound
        fails the process."""
        nonlocal since
        applied = ledger.applied_offsets()
        committed = await reader.committed(settings.app_id, list(applied)) if applied else {}
        since, ages = stuck_for(since, applied, committed, time.monotonic())
        worst_of = worst_by_topic(ages)
        for topic in reported | set(worst_of):
            metrics.commit_stuck.labels(topic).set(worst_of.get(topic, 0.0))
        reported.update(worst_of)
        worst = max(ages.items(), key=lambda item: item[1], default=None)
        if worst is not None and worst[1] > settings.progress_timeout_seconds:
            (topic, partition), age = worst
            stuck = ", ".join(
                f"{t}[{n}] committed {committed.get((t, n))} of {applied[(t, n)]} applied"
                for (t, n), a in sorted(ages.items())
                if a > settings.progress_timeout_seconds
            )
            reason = f"committed offsets stuck for {age:.0f} s while their input was applied: {stuck}"
            health.set_check("commits", reason)
            health.fail(reason, "commit_progress")

    @faust_api.timer(app, settings.continuity_check_interval_seconds)
    async def report_state_size() -> None:
        for name, table in p.state_tables.items():
            metrics.state_entries.labels(name).set(len(table))

    @faust_api.timer(app, FLUSH_SECONDS)
    async def flush_idle() -> None:  # work done just before input paused must not wait for the next message
        if p.pending() and p.flush_due(time.monotonic()):
            await p.flush()

    @faust_api.receiver(app.on_before_shutdown)
    async def _close_ledger(sender: Any, *args: Any, **kwargs: Any) -> None:
        await p.flush()
        await ledger.close()

    @faust_api.receiver(app.on_partitions_revoked)
    async def _forget_revoked(sender: Any, revoked: Any, *args: Any, **kwargs: Any) -> None:
        # Durable first: unflushed state of a revoked partition would otherwise reach its changelog later,
        # under the new owner's feet. Faust has stopped the agents' streams by now.
        await p.flush()
        ledger.forget((tp.topic, tp.partition) for tp in revoked)
        for table in p.buffered:
            table.forget_cached()

    @faust_api.receiver(app.on_rebalance_complete)
    async def _joined(sender: Any, *args: Any, **kwargs: Any) -> None:
        by_topic: dict[str, list[int]] = {}
        for tp in app.consumer.assignment():
            if not tp.topic.endswith("-changelog"):
                by_topic.setdefault(tp.topic, []).append(tp.partition)
        described = ", ".join(f"{t}{sorted(ps)}" for t, ps in sorted(by_topic.items()))
        count = sum(len(ps) for ps in by_topic.values())
        health.set_check("started", None)
        log.info("joined consumer group %s; assigned %d partitions: %s", settings.app_id, count, described)

    return p
