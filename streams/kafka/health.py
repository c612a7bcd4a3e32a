"""Is this process making progress? One answer for people, probes and supervisors.

Faust's consumer runs on its own thread, so the broker keeps hearing from a
worker whose event loop or agent is stuck: nothing outside the process notices.
So every process watches itself, from a thread of its own that a wedged loop
cannot stop:

- **bounded waits**: each wait on Kafka that the process cannot do without
  (a flush's acknowledgements, an offset commit, a re-read, a look-up of
  committed offsets) runs inside ``bounded()``; one that outlasts its bound is
  a failure;
- **the loop's heartbeat**: a callback on the event loop beats every second;
  a loop that has not turned for ``loop_timeout`` is a failure;
- **the shutdown**: a stop that takes longer than its bound is a failure
  (``bounded("shutdown", ...)`` around it);
- **checks** the process reports (``set_check``): what ``/readyz`` answers
  (a registry still loading, a partition whose committed offset is stuck).

A failure is logged at error with what it waited for and the stack of every
thread, counted, and ends the process with exit code ``EXIT_STALLED``, so its
supervisor (Kubernetes, systemd, ``--with-dispatcher``) restarts it and it
replays from its last commit. The exit is immediate: a process that is stuck
cannot be trusted to stop cleanly (a hung commit also hangs Faust's shutdown),
and a SIGKILL at any moment is safe by design.

``serve()`` answers ``/metrics``, ``/livez`` and ``/readyz`` from that thread,
each probe with a small JSON body saying why.
"""

from __future__ import annotations

import asyncio
import faulthandler
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..metrics import Metrics
from .exits import EXIT_STALLED

log = logging.getLogger("cdp_triggers")

WATCH_INTERVAL = 0.25
HEARTBEAT_SECONDS = 1.0


@dataclass(frozen=True)
class Wait:
    what: str  # the operation: a fixed name, used as a metric label
    detail: str  # what it waits for, for the log line
    started: float  # time.monotonic()
    limit: float


class Health:
    def __init__(self, metrics: Metrics, loop_timeout: float, exit: Callable[[int], None] = os._exit) -> None:
        self._metrics = metrics
        self._loop_timeout = loop_timeout
        self._exit = exit
        self._lock = threading.Lock()
        self._waits: dict[int, Wait] = {}
        self._ids = itertools.count()
        self._beat: float | None = None  # None until the loop's first beat: start-up is not judged by it
        self._checks: dict[str, str] = {}  # check -> why it fails (only failing checks are held)
        self._probes: dict[str, Callable[[], str | None]] = {}  # checks read when asked (from the HTTP thread)
        self._event_loop: asyncio.AbstractEventLoop | None = None  # its tasks are shown at a failure
        self._until_ready: set[str] = set()  # probes that gate only the first readiness
        self._was_ready = False
        self._failed: str | None = None
        self._watcher: threading.Thread | None = None
        self._server: ThreadingHTTPServer | None = None
        metrics.loop_heartbeat_age.set_function(lambda: self.heartbeat_age() or 0.0)
        metrics.ready.set_function(lambda: float(self.ready()[0]))

    # -- the loop's side ---------------------------------------------------------

    def beat(self) -> None:
        self._beat = time.monotonic()

    @contextmanager
    def bounded(self, what: str, limit: float, detail: str) -> Iterator[None]:
        """Around one wait: if it lasts longer than ``limit`` seconds, the process fails (see the module)."""
        key = next(self._ids)
        with self._lock:
            self._waits[key] = Wait(what, detail, time.monotonic(), limit)
        try:
            yield
        finally:
            with self._lock:
                self._waits.pop(key, None)

    def set_check(self, name: str, failing: str | None) -> None:
        """``failing``: why this process is not ready (None: the check passes)."""
        with self._lock:
            if failing is None:
                self._checks.pop(name, None)
            else:
                self._checks[name] = failing
        self._metrics.not_ready.labels(name).set(failing is not None)

    def add_check(self, name: str, failing: Callable[[], str | None], *, until_ready: bool = False) -> None:
        """A check read at each ``/readyz``: a cheap look at plain attributes (it runs on the HTTP thread).

        ``until_ready``: it gates only the process's first readiness, and is then reported without failing it. For
        what the whole group goes through at once (a rebalance, the restores it causes): failing it on every member
        together would make every pod NotReady at the same moment, and disruption budgets would then block drains.
        """
        self._probes[name] = failing
        if until_ready:
            self._until_ready.add(name)

    def fail(self, reason: str, what: str = "failure") -> None:
        """Say why, with every thread's stack, and end the process (``EXIT_STALLED``). Any thread may call it."""
        with self._lock:
            if self._failed is not None:
                return
            self._failed = reason
        try:
            self._metrics.stalls.labels(what).inc()
            log.error(
                "%s; exiting with code %d so that the supervisor restarts this process (it resumes from its "
                "last commit)",
                reason,
                EXIT_STALLED,
            )
            for handler in logging.getLogger().handlers + log.handlers:
                handler.flush()
            # The real stderr: Faust replaces sys.stderr with a logging proxy that has no file descriptor.
            err = sys.__stderr__
            if err is not None:
                err.write("stacks of every thread at the failure:\n")
                err.flush()
                faulthandler.dump_traceback(file=err, all_threads=True)
                # a hung await shows in no thread's stack, only in its task's
                if self._event_loop is not None:
                    err.write("\nthe event loop's pending tasks:\n")
                    for task in _pending(self._event_loop):
                        task.print_stack(limit=12, file=err)
                err.flush()
        finally:
            self._exit(EXIT_STALLED)

    # -- the watcher's side ---------------------------------------------------------

    def heartbeat_age(self) -> float | None:
        beat = self._beat
        return None if beat is None else time.monotonic() - beat

    def _loop_stalled_for(self) -> float | None:
        """The heartbeat's age once it is past ``loop_timeout``; None while the loop turns (or before it beat)."""
        age = self.heartbeat_age()
        return age if age is not None and age > self._loop_timeout else None

    def overdue(self, now: float | None = None) -> Wait | None:
        """The longest-overdue bounded wait, if any."""
        now = time.monotonic() if now is None else now
        with self._lock:
            late = [w for w in self._waits.values() if now - w.started > w.limit]
        return max(late, key=lambda w: now - w.started - w.limit, default=None)

    def live(self) -> tuple[bool, dict[str, Any]]:
        age = self.heartbeat_age()
        shown = None if age is None else round(age, 3)
        if self._failed is not None:  # exiting: the heartbeat's age says whether the loop still turns
            return False, {"status": "failed", "reason": self._failed, "heartbeat_age_seconds": shown}
        stalled = self._loop_stalled_for()
        if stalled is not None:
            return False, {
                "status": "stalled",
                "reason": f"the event loop has not turned for {stalled:.1f} s",
                "heartbeat_age_seconds": round(stalled, 3),
            }
        return True, {"status": "ok", "heartbeat_age_seconds": shown}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        alive, body = self.live()
        if not alive:
            return False, body
        with self._lock:
            checks = dict(self._checks)
        notes = {}
        for name, probe in list(self._probes.items()):
            failing = probe()
            if failing is None:
                continue
            if self._was_ready and name in self._until_ready:
                notes[name] = failing
            else:
                checks[name] = failing
        if checks:
            return False, {"status": "not ready", "checks": checks}
        self._was_ready = True
        return True, {"status": "ready", "notes": notes} if notes else {"status": "ready"}

    def watch_once(self) -> None:
        late = self.overdue()
        if late is not None:
            waited = time.monotonic() - late.started
            self.fail(
                f"{late.what}: still waiting after {waited:.1f} s (bound {late.limit:g} s) for {late.detail}", late.what
            )
            return
        stalled = self._loop_stalled_for()
        if stalled is not None:
            self.fail(
                f"the event loop has not turned for {stalled:.1f} s (bound {self._loop_timeout:g} s): "
                "something blocks it",
                "event_loop",
            )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Beat on ``loop`` (a callback of its own, not a Faust timer: it goes on through a rebalance, a restore and
        the shutdown) and start the watcher thread. Once."""
        if self._watcher is not None:
            return
        self._event_loop = loop

        def tick() -> None:
            self.beat()
            loop.call_later(HEARTBEAT_SECONDS, tick)

        loop.call_soon_threadsafe(tick)

        def watch() -> None:
            while True:
                time.sleep(WATCH_INTERVAL)
                self.watch_once()

        self._watcher = threading.Thread(target=watch, name="cdp-health-watch", daemon=True)
        self._watcher.start()

    def serve(self, host: str, port: int) -> None:
        """``/metrics``, ``/livez`` and ``/readyz`` on ``host:port``, from a thread (OSError if taken)."""
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="cdp-health-http", daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(health._metrics.registry), CONTENT_TYPE_LATEST)
            elif path in ("/livez", "/readyz"):
                ok, body = health.live() if path == "/livez" else health.ready()
                self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
            else:
                self._send(404, b'{"status": "not found"}', "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a line each
            pass

    return Handler


def _pending(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    """The loop's unfinished tasks, read from another thread: the task set may change while it is copied."""
    for _ in range(5):
        try:
            return [t for t in asyncio.all_tasks(loop) if not t.done()]
        except RuntimeError:  # "set changed size during iteration"
            continue
    return []
