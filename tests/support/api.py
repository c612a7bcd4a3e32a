"""The triggers API as a real process, with keys made by the real CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devtools.processes import ROOT, WorkerProcess, env_for
from streams.settings import Settings
from tests.support.kafka import free_port

SIGNING_KEY = "test-hook-signing-key-0123456789abcdef0123456789"
PROBLEM = "application/problem+json"


def problem(response: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    """The problem details of an answer that must be one, of ``status`` (and of ``kind``, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    if kind:
        assert body["type"] == f"urn:cdp-triggers:problem:{kind}"
    return body


def api_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"api_port": free_port(), "hook_signing_key": SIGNING_KEY, **overrides})


def api_keys(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``cdp-triggers api-keys ARGS`` as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "api-keys", *args],
        env=env_for(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def create_key(settings: Settings, name: str, scope: str = "write") -> str:
    done = api_keys(settings, "create", name, "--scope", scope)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Api:
    """A client of the running API; ``key`` is sent unless a call says otherwise."""

    base: str
    key: str
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"X-API-Key": key if key is not None else self.key, **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else self.base + path
        return self.session.request(method, url, headers=headers, timeout=30, **kwargs)


def start_api(
    settings: Settings, log: Path, key_scope: str = "write", admin: Settings | None = None
) -> tuple[WorkerProcess, Api]:
    """``admin``: the settings the key is created with, when the API's principal may not write keys."""
    key = create_key(admin or settings, "tests", key_scope)
    process = WorkerProcess(settings, log, "api").start()
    return process, Api(f"http://127.0.0.1:{settings.api_port}", key)


def own_api(
    bootstrap: str, tmp: Path, key_scope: str = "write", **overrides: Any
) -> tuple[Settings, WorkerProcess, Api]:
    """An API on topics of its own (created), for a test module's fixture."""
    import asyncio

    from streams.kafka.clients import ensure_topics
    from tests.support.kafka import test_settings

    s = api_settings(test_settings(bootstrap, tmp), **overrides)
    asyncio.run(ensure_topics(s))
    process, client = start_api(s, tmp / "api.log", key_scope)
    return s, process, client


@contextmanager
def hooks_pipeline(settings: Settings, worker_factory: Any, tmp: Path) -> Iterator[tuple[Any, Settings, Api]]:
    """An HTTPS callback with a CA of its own (allowed by the settings), the API, a worker and a dispatcher;
    yields (callback receiver, settings, API client) and stops them all."""
    from tests.support.receivers import HttpReceiver

    with HttpReceiver(tls_dir=tmp / "tls") as callback:
        s = api_settings(settings, hook_allowed_networks=["127.0.0.1/32"], hook_ca_file=callback.ca_file)
        process, api = start_api(s, tmp / "api.log")
        try:
            worker_factory(s).start()
            worker_factory(s.model_copy(update={"metrics_port": 0}), "dispatcher", "dispatcher").start()
            yield callback, s, api
        finally:
            process.stop()
