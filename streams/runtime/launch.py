"""Starting a Faust process (worker or dispatcher): topics, the pipeline, the
steps before Faust, metrics, then Faust's own worker loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable
from typing import Any

from faust.worker import Worker

from ..acls import Role, topics_of
from ..kafka.clients import ConnectionProblem, MissingTopicsError, check, ensure_topics
from ..kafka.exits import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from ..settings import ConfigError, Settings
from .app import writable_state_dir
from .pipeline import Pipeline

log = logging.getLogger("cdp_triggers")


class LaunchError(Exception):
    """A process could not start; the message says why and what to check."""


def launch(
    settings: Settings,
    role: Role,
    build: Callable[[], Pipeline],
    say: Callable[[str], None],
    complain: Callable[[str], None],
    prepare: Callable[[Pipeline], None] | None = None,
) -> int:
    """A process's entry point: run the worker's or the dispatcher's pipeline until stopped; a failure to start is
    one sentence to ``complain`` with a hint, and the exit code (``exits``) says which kind it was."""
    group = settings.app_id if role == "worker" else settings.dispatcher_app_id
    try:
        run(settings, group, topics_of(role, settings), build, say, prepare)
    except LaunchError as exc:
        complain(str(exc))
    except ConnectionProblem as exc:
        if exc.configuration:
            complain(f"{exc}.")
            return EXIT_CONFIG
        complain(f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start'.")
    except ConfigError as exc:
        complain(str(exc))
        return EXIT_CONFIG
    except MissingTopicsError as exc:
        complain(
            f"{exc}. Hint: on a secured cluster the principal may lack Describe on it; "
            f"'cdp-triggers acls {role}' prints what the {role} needs."
        )
    else:
        return EXIT_OK
    return EXIT_FAILED


def run(
    settings: Settings,
    group: str,
    topics: set[str],
    build: Callable[[], Pipeline],
    say: Callable[[str], None],
    prepare: Callable[[Pipeline], None] | None = None,
) -> None:
    """Build and run until stopped. ``prepare`` runs once everything is up,
    just before Faust takes over (the worker starts its dispatcher there)."""
    import uvloop

    # uvloop: Faust's per-message path is mostly event-loop work (tasks, futures, queues); every loop of the
    # process is one, Faust's consumer thread's too.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    writable_state_dir(settings)  # a local mistake, said before any wait on the network
    loop.run_until_complete(check(settings, group))  # ConnectionProblem: one sentence, the setting to check
    try:
        created = loop.run_until_complete(ensure_topics(settings, only=topics))
    except ConnectionError as exc:
        raise LaunchError(
            f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start' or set CDP_KAFKA_BOOTSTRAP."
        ) from None
    if created:
        say(f"created topics: {', '.join(created)}")
    pipeline = build()
    health = pipeline.health
    if settings.metrics_port:
        try:
            health.serve(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            raise LaunchError(
                f"CDP_METRICS_PORT: cannot listen on {settings.metrics_host}:{settings.metrics_port} ({exc.strerror})."
                " Hint: another worker may use it; give each worker its own port, or 0 to disable."
            ) from None
        say(f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics (probes: /livez, /readyz)")
    health.start(loop)
    for step in pipeline.before_start:
        health.set_check("loading", f"loading: {step.__name__}")
        loop.run_until_complete(step())
    health.set_check("loading", None)
    if prepare is not None:
        prepare(pipeline)
    # What start-up built (modules, settings, subscriptions) lives as long as the process: out of the cyclic
    # collector's sight. Young collections are rare: they trigger on the net growth of container objects, which is
    # the state caches filling, not garbage (refcounting frees that), and each one walks everything allocated since
    # (A/B: 700 -> 50,000 +7-18%; 50,000 -> 500,000 +9-17%, the same RSS; no older collection ran in either).
    if settings.fault_block_loop_after_seconds is not None:
        loop.call_later(settings.fault_block_loop_after_seconds, _block_the_loop)
    gc.collect()
    gc.freeze()
    gc.set_threshold(500_000, 20, 100)
    BoundedWorker(pipeline, loglevel=settings.log_level, loop=loop).execute_from_commandline()


def _block_the_loop() -> None:
    """The test-only fault switch (``CDP_FAULT_BLOCK_LOOP_AFTER_SECONDS``): a wedged loop, as a hung library
    call or a busy loop would make it, for the liveness probe and the watchdog to catch."""
    log.warning("CDP_FAULT_BLOCK_LOOP_AFTER_SECONDS: blocking the event loop for good (a test-only fault)")
    threading.Event().wait()


class BoundedWorker(Worker):
    """Faust's worker, whose stop (on SIGTERM, SIGINT or a crash) has a bound: a commit or a flush that never
    returns would otherwise hold the process at "Wait for streams..." until a SIGKILL."""

    def __init__(self, pipeline: Pipeline, **kwargs: Any) -> None:
        super().__init__(pipeline.app, **kwargs)
        self._cdp_pipeline = pipeline

    async def stop(self) -> None:
        p = self._cdp_pipeline
        with p.health.bounded(
            "shutdown", p.settings.shutdown_timeout_seconds, "the shutdown: flush, commit, close the stores"
        ):
            await super().stop()
