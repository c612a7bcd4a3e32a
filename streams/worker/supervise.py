"""``worker --with-dispatcher``: one command and one container for both, with
the dispatcher in a child process so a slow receiver never stalls detection
and each keeps its own consumer group. If either stops, both stop."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from typing import Any

from ..runtime.faust_api import receiver
from ..runtime.pipeline import Pipeline
from ..settings import Settings

log = logging.getLogger("cdp_triggers")

CHILD_STOP_SECONDS = 30


def supervise(
    pipeline: Pipeline,
    name: str,
    entry: Callable[[Settings], None],
    settings: Settings,
    say: Callable[[str], None],
) -> None:
    """Run ``entry(settings)`` in a child process for as long as the worker runs. The caller passes the entry
    point (the dispatcher's, from the layer above); ``spawn`` gives the child an interpreter of its own, with
    no Faust state or threads inherited from this one."""
    app = pipeline.app
    child = multiprocessing.get_context("spawn").Process(target=entry, args=(settings,), name=name, daemon=False)
    child.start()
    say(f"{name} started (pid {child.pid})")
    stopping = False

    @app.task
    async def watch_child() -> None:
        await asyncio.get_running_loop().run_in_executor(None, child.join)
        if not stopping:  # any code, 0 too: the supervisor restarts both, and only on a failure code
            pipeline.health.fail(f"the {name} exited with code {child.exitcode}; the worker stops too", name)

    @receiver(app.on_before_shutdown)
    async def _stop_child(sender: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal stopping
        stopping = True
        if child.is_alive():
            child.terminate()
            await asyncio.get_running_loop().run_in_executor(None, child.join, CHILD_STOP_SECONDS)
            if child.is_alive():
                log.error("the %s did not stop within %d s of SIGTERM; killing it", name, CHILD_STOP_SECONDS)
                child.kill()
