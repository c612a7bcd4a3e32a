"""``cdp-triggers demo``: the whole pipeline on one machine, live.

It starts a worker and a dispatcher (as child processes), applies
``data/demo-subscriptions.yaml``, plays the simulated CDP (``simulator``) and
prints every trigger as it fires. The dispatcher delivers per
``data/demo-routes.yaml`` to a small HTTP inbox that the demo itself
serves on 127.0.0.1, standing in for Teams and a webhook; each Teams card that
arrives is printed under its trigger. It also runs the triggers API, creates
a key, and registers a hook through ``POST /v1/hooks`` for the threshold
triggers, to an HTTPS endpoint of the inbox: each delivery's Standard
Webhooks signature is checked with the secret the API returned.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from schemas.apikeys import ApiKey, digest, new_key
from schemas.triggers import KINDS, TriggerEvent, TriggerType
from streams.client import liveview
from streams.client.follow import trigger_records
from streams.client.producer import EventProducer, play, read_subscription_file
from streams.delivery.receivers.signing import parse_secret, signature
from streams.kafka.codec import encode
from streams.settings import Settings

from .processes import free_port
from .simulator import SimConfig, Simulation

DATA = Path(__file__).resolve().parent / "data"  # inside the package: an installed demo has it too
# The six triggers of the brief; ours ('stalled') is shown when it happens, not waited for.
SIX = {kind.type for kind in KINDS.values() if kind.in_product}


class Inbox:
    """An HTTP server on loopback counting what the dispatcher delivers, with an
    HTTPS port (a CA of its own) for the API's hook."""

    def __init__(self, show: Callable[[str], None], tls_dir: Path) -> None:
        self.received: Counter[str] = Counter()
        self._show = show
        self._runner: web.AppRunner | None = None
        self.port = self.tls_port = 0
        self.tls_dir = tls_dir
        self.hook_key: bytes | None = None  # set once the hook is registered

    async def _receive(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self.received[request.path] += 1
        if request.path == "/teams":
            title = body["attachments"][0]["content"]["body"][0]["text"]
            self._show(f"   ↳ Teams card: {title}")
        if request.path == "/hook" and self.hook_key is not None:
            h = request.headers
            expected = signature(self.hook_key, h["webhook-id"], int(h["webhook-timestamp"]), await request.read())
            verdict = "signature verified" if expected in h.get("webhook-signature", "").split() else "BAD SIGNATURE"
            event = TriggerEvent.model_validate(body)
            self._show(f"   ↳ API hook: {KINDS[event.type].describe(event.data).title} ({verdict})")
        return web.Response(status=202)

    async def start(self) -> None:
        import ssl

        from . import tls

        app = web.Application()
        app.router.add_post("/{path}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # set once started
        tls.make_ca(self.tls_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls.issue(self.tls_dir, "inbox", server=True))
        secure = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await secure.start()
        self.tls_port = secure._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # set once started

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def run_demo(
    settings: Settings,
    duration: float,
    say: Callable[[str], None],
    *,
    until_all: bool = False,
    seed: int = 7,
    speed: float = 60.0,
    log_dir: Path = Path(".demo"),
) -> set[TriggerType]:
    console = liveview.console()
    log_dir.mkdir(exist_ok=True)  # noqa: ASYNC240 (once, before anything runs)
    inbox = Inbox(lambda text: console.print(text, style="dim"), log_dir / "tls")
    await inbox.start()
    api_port = free_port()
    env = {
        **os.environ,
        "CDP_HOOK_SIGNING_KEY": secrets.token_urlsafe(36),
        "CDP_HOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "CDP_HOOK_CA_FILE": str(log_dir / "tls" / "ca.pem"),
        "CDP_API_PORT": str(api_port),
        "CDP_STALL_AFTER_SECONDS": "20",
        "CDP_STALL_CHECK_INTERVAL_SECONDS": "2",
        "CDP_ROUTES_FILE": str(DATA / "demo-routes.yaml"),
        "DEMO_TEAMS_URL": f"http://127.0.0.1:{inbox.port}/teams",
        "DEMO_WEBHOOK_URL": f"http://127.0.0.1:{inbox.port}/webhook",
        "DEMO_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    children: list[subprocess.Popen] = []
    seen: set[TriggerType] = set()
    # Ctrl-C and SIGTERM set ``stop``; whatever phase we are in ends, and the finally blocks stop everything.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        for name, port, ready in (
            ("worker", settings.metrics_port, "joined consumer group"),
            ("dispatcher", settings.dispatcher_metrics_port, "joined consumer group"),
            ("api", 0, "Application startup complete"),
        ):
            log_path = log_dir / f"{name}.log"
            say(f"starting the {name} (log: {log_path})")
            offset = log_path.stat().st_size if log_path.exists() else 0
            children.append(child := _spawn(name, {**env, "CDP_METRICS_PORT": str(port)}, log_path))
            await _wait_for_line(log_path, offset, child, ready, name, say, stop)
            if stop.is_set():
                return seen
        async with EventProducer(settings) as producer:
            await _register_hook(producer, api_port, inbox, say)
            for sub in read_subscription_file(DATA / "demo-subscriptions.yaml"):
                await producer.put_subscription(sub)
            say(f"subscriptions applied from {DATA / 'demo-subscriptions.yaml'}")
            sim = Simulation(SimConfig(seed=seed, speed=speed), datetime.now(UTC))
            entities = sim.config.entities()
            say(
                f"simulated CDP (seed {seed}, {speed:g}x): "
                + "; ".join(f"{k}: {', '.join(v)}" for k, v in entities.items())
            )
            say("live trigger view (Ctrl-C stops):")
            simulation = asyncio.create_task(play(producer, sim.events(), duration=duration or None))
            try:
                await _watch(settings, children, seen, console, duration, until_all, stop)
            finally:
                simulation.cancel()
                await asyncio.gather(simulation, return_exceptions=True)
    finally:
        _stop(children)
        await inbox.stop()
        if children:
            say("worker, dispatcher and API stopped")
    deliveries = ", ".join(f"{path.strip('/')} {n}" for path, n in sorted(inbox.received.items())) or "none"
    say(f"deliveries received by the demo inbox: {deliveries}")
    return seen


async def _watch(
    settings: Settings,
    children: list[subprocess.Popen],
    seen: set[TriggerType],
    console: Any,
    duration: float,
    until_all: bool,
    stop: asyncio.Event,
) -> None:
    deadline = time.monotonic() + duration if duration else float("inf")
    async with aclosing(trigger_records(settings, poll_ms=500)) as batches:
        async for batch in batches:
            if time.monotonic() >= deadline or stop.is_set():
                return
            for child in children:
                if child.poll() is not None:
                    raise RuntimeError(f"{child.args!r} exited with code {child.returncode}; see .demo/")
            for value in batch:
                event = TriggerEvent.model_validate_json(value)
                seen.add(event.type)
                console.print(liveview.line(event))
            if until_all and seen >= SIX:
                await asyncio.sleep(2)  # let the last deliveries arrive
                return


async def _register_hook(producer: EventProducer, api_port: int, inbox: Inbox, say: Callable[[str], None]) -> None:
    """A key (written as the CLI would), then a hook through the API, as an automation tool would."""
    import aiohttp

    key_id, secret, full_key = new_key()
    record = ApiKey(key_id=key_id, name="demo", scope="write", sha256=digest(secret), created_at=datetime.now(UTC))
    await producer.put_record(producer.topics.api_keys, key_id, encode(record))
    body = {
        "url": f"https://127.0.0.1:{inbox.tls_port}/hook",
        "description": "demo",
        "types": ["segment.threshold.crossed", "measure.threshold.crossed"],
    }
    async with aiohttp.ClientSession() as session:
        for _ in range(50):  # the API reads the new key within a moment
            async with session.post(
                f"http://127.0.0.1:{api_port}/v1/hooks", json=body, headers={"X-API-Key": full_key}
            ) as response:
                answer = await response.json()
                if response.status != 401:
                    break
            await asyncio.sleep(0.2)
    if response.status != 201:
        raise RuntimeError(f"the API refused the demo's hook: {answer}")
    inbox.hook_key = parse_secret(answer["secret"])
    say(
        f"hook {answer['id']} registered through the API (POST /v1/hooks -> 201, Location "
        f"{response.headers['Location']}) for threshold crossings; deliveries to it show as '↳ API hook'"
    )


def _spawn(command: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _wait_for_line(
    path: Path,
    start: int,
    child: subprocess.Popen,
    needle: str,
    name: str,
    say: Callable[[str], None],
    stop: asyncio.Event,
) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not stop.is_set():
        if child.poll() is not None:
            raise RuntimeError(f"the {name} exited with code {child.returncode}; see {path}")
        with open(path, "rb") as f:  # noqa: ASYNC230 (a local log of a few KiB, every 0.2 s: no thread needed)
            f.seek(start)
            for line in f.read().decode(errors="replace").splitlines():
                if needle in line:
                    say(f"{name}: " + line.split("] ", 3)[-1][:160])
                    return
        await asyncio.sleep(0.2)
    if stop.is_set():
        return
    raise RuntimeError(f"the {name} did not join its consumer group within 120 s; see {path}")


def _stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM to all at once, then wait; SIGKILL what is still up after 30 s."""
    running = [c for c in children if c.poll() is None]
    for child in running:
        os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for child in running:
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
