"""``worker --with-dispatcher``: one command and one container for both, with
the dispatcher in a child process so a slow receiver never stalls detection
and each keeps its own consumer group. If either stops, both stop."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from ..runtime.faust_fixes import receiver
from ..runtime.pipeline import Pipeline
from ..settings import Settings

log = logging.getLogger("cdp_triggers")


def supervise_dispatcher(pipeline: Pipeline, settings: Settings, say: Callable[[str], None]) -> None:
    app = pipeline.app
    env = dict(os.environ)
    env["CDP_METRICS_PORT"] = str(settings.dispatcher_metrics_port)
    if settings.instance_id:
        env["CDP_INSTANCE_ID"] = f"{settings.instance_id}-dispatcher"
    child = subprocess.Popen([sys.executable, "-m", "streams.cli", "dispatcher"], env=env)
    say(f"dispatcher started (pid {child.pid})")
    stopping = False

    @app.task
    async def watch_dispatcher() -> None:
        code = await asyncio.get_running_loop().run_in_executor(None, child.wait)
        if code is not None and not stopping:  # non-zero, so that the supervisor restarts both
            pipeline.health.fail(f"the dispatcher exited with code {code}; the worker stops too", "dispatcher")

    @receiver(app.on_before_shutdown)
    async def _stop_dispatcher(sender: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal stopping
        stopping = True
        if child.poll() is None:
            child.terminate()
            try:
                await asyncio.get_running_loop().run_in_executor(None, child.wait, 30)
            except subprocess.TimeoutExpired:
                child.kill()
