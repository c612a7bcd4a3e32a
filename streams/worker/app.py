"""The detection worker's Faust app: three agents and the subscription registry."""

from __future__ import annotations

from ..metrics import Metrics
from ..runtime import app
from ..runtime.pipeline import Pipeline
from ..settings import Settings
from ..topics import Topics
from . import datasources, runs, thresholds
from .registry import SubscriptionRegistry


def create_app(settings: Settings, metrics: Metrics | None = None) -> Pipeline:
    pipeline = app.pipeline(settings, metrics)
    local = app.state_dir(settings) / "subscriptions" if settings.state_store == "rocksdb" else None
    registry = SubscriptionRegistry(pipeline.metrics, settings.max_event_bytes, directory=local)
    datasources.register(pipeline)
    thresholds.register(pipeline, registry)
    runs.register(pipeline)

    t = pipeline.topics
    pipeline.metrics.preset(
        [t.datasources, t.segments, t.measures, t.runs], [t.actions, t.dead_letter], list(Topics.AGENTS)
    )

    async def load_subscriptions() -> None:
        await registry.load(settings, t.subscriptions)

    pipeline.before_start.append(load_subscriptions)
    limit = settings.progress_timeout_seconds
    pipeline.health.add_check("subscriptions", lambda: registry.unconfirmed(limit))

    @pipeline.app.task
    async def follow_subscriptions() -> None:
        await pipeline.follow("the subscription registry", registry.follow)

    return pipeline
