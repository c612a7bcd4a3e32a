"""The dispatcher's Faust app: trigger events in, deliveries out. Its own
consumer group and state, so a slow receiver never holds up detection."""

from __future__ import annotations

from collections.abc import Callable

from ..kafka.exits import EXIT_CONFIG
from ..metrics import Metrics
from ..runtime import app
from ..runtime.launch import launch
from ..runtime.pipeline import Pipeline
from ..settings import Settings
from ..topics import DISPATCHER_AGENT
from . import agent, config
from .config import Routes, RoutesError
from .hooks import KIND as HOOK_KIND
from .hooks import HookBook


def create_dispatcher(settings: Settings, routes: Routes, metrics: Metrics | None = None) -> Pipeline:
    """``routes`` may be ``Routes.empty()``: then only the API's hooks receive
    triggers (when CDP_HOOK_SIGNING_KEY is set)."""
    pipeline = app.pipeline(settings.model_copy(update={"app_id": settings.dispatcher_app_id}), metrics)
    hooks = HookBook(settings, pipeline.metrics)
    agent.register(pipeline, routes, hooks)
    t = pipeline.topics
    pipeline.metrics.preset([t.actions], [t.delivery_dead_letter], [DISPATCHER_AGENT])
    kinds = {r.spec.kind for r in routes.receivers.values()} | ({HOOK_KIND} if hooks.enabled else set())
    pipeline.metrics.preset_delivery(sorted(kinds))
    return pipeline


def main(settings: Settings, say: Callable[[str], None], complain: Callable[[str], None]) -> int:
    """The dispatcher's entry point: load the routes, then deliver until stopped. Returns the exit code."""
    try:
        routes = config.for_settings(settings)
    except RoutesError as exc:
        complain(str(exc))
        return EXIT_CONFIG
    say(f"routes from {routes.source}: {len(routes.receivers)} receivers ({', '.join(routes.receivers)})")
    say("API hooks: " + ("followed" if settings.hook_key() else "off (CDP_HOOK_SIGNING_KEY is not set)"))
    return launch(settings, "dispatcher", lambda: create_dispatcher(settings, routes), say, complain)
