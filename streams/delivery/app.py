"""The dispatcher's Faust app: trigger events in, deliveries out. Its own
consumer group and state, so a slow receiver never holds up detection."""

from __future__ import annotations

from ..metrics import Metrics
from ..runtime import app
from ..runtime.pipeline import Pipeline
from ..settings import Settings
from ..topics import DISPATCHER_AGENT
from . import agent
from .config import Routes


def create_dispatcher(settings: Settings, routes: Routes, metrics: Metrics | None = None) -> Pipeline:
    pipeline = app.pipeline(settings.model_copy(update={"app_id": settings.dispatcher_app_id}), metrics)
    agent.register(pipeline, routes)
    t = pipeline.topics
    pipeline.metrics.preset([t.actions], [t.delivery_dead_letter], [DISPATCHER_AGENT])
    pipeline.metrics.preset_delivery(sorted({r.spec.kind for r in routes.receivers.values()}))
    return pipeline
