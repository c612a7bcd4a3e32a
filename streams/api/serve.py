"""Running the API: Kafka checked and topics made sure of first, then uvicorn
(loopback by default). Prometheus metrics are served at /metrics of the same
port, outside /v1 and without a key."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import uvicorn

from ..acls import topics_of
from ..kafka.clients import check, ensure_topics
from ..kafka.health import Health
from ..metrics import Metrics
from ..settings import Settings
from .app import create_api
from .store import ApiStore


async def serve(settings: Settings, say: Callable[[str], None]) -> None:
    await check(settings)  # ConnectionProblem: one sentence, the setting to check
    created = await ensure_topics(settings, only=topics_of("api", settings))
    if created:
        say(f"created topics: {', '.join(created)}")
    metrics = Metrics()
    health = Health(metrics, settings.loop_timeout_seconds)
    health.start(asyncio.get_running_loop())  # a wedged loop or a dead follower ends the process (exit code 3)
    store = ApiStore(settings, metrics, on_failure=lambda why: health.fail(why, "follower"))
    app = create_api(settings, store, metrics, health)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level,
        proxy_headers=True,
        server_header=False,
        access_log=False,
        # open requests and keep-alive connections get this long after SIGTERM, then are closed: the stop has a bound
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
    )
    say(
        f"API on http://{settings.api_host}:{settings.api_port} (OpenAPI at /openapi.json, metrics at /metrics, "
        "probes: /livez, /readyz)"
    )
    await uvicorn.Server(config).serve()


def run(settings: Settings, say: Callable[[str], None]) -> None:
    asyncio.run(serve(settings, say))
