"""Real receivers on loopback for delivery tests: an aiohttp server playing
Teams and webhook endpoints, and an aiosmtpd SMTP server. Each runs in a
thread of its own, so tests drive them from sync or async code alike."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.support.kafka import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()


# What the server does with request number n (1-based) to a path:
# ("status", code, {headers}[, body]) | ("slow", seconds) | ("close",). The request is recorded before the
# script runs, so a script may read it (``on(path)[-1]``), to check a signature for example.
Script = Callable[[str, int], tuple]


class HttpReceiver:
    """``tls_dir``: serve https with a certificate for 127.0.0.1 from a CA of
    its own (``ca_file``), as a callback on the internet would."""

    def __init__(self, script: Script | None = None, *, tls_dir: Path | None = None) -> None:
        self.script: Script = script or (lambda path, n: ("status", 202, {}))
        self.ca_file: Path | None = None
        self._ssl = None
        if tls_dir is not None:
            import ssl

            from devtools import tls

            self.ca_file = tls.make_ca(tls_dir)
            cert, key = tls.issue(tls_dir, "callback", server=True)
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(cert, key)
        self.requests: list[Request] = []
        self.port = free_port()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.requests.append(Request(request.path, dict(request.headers), body, time.monotonic()))
            n = sum(1 for r in self.requests if r.path == request.path)
        action = self.script(request.path, n)
        if action[0] == "slow":
            await asyncio.sleep(action[1])
            return web.Response(status=202)
        if action[0] == "close":
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.5)
            return web.Response(status=202)
        headers, text = (action[2] if len(action) > 2 else {}), (action[3] if len(action) > 3 else "answer")
        return web.Response(status=action[1], headers=headers, text=text)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._ssl).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        assert self._ready.wait(10), "HTTP receiver did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class _SmtpHandler:
    mails: list[Mail] = field(default_factory=list)
    # Reply for DATA of message n (1-based), or None to accept.
    data_reply: Callable[[int], str | None] = lambda n: None
    refuse: set[str] = field(default_factory=set)
    data_calls: int = 0
    tls: bool = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_calls += 1
        reply = self.data_reply(self.data_calls)
        if reply:
            return reply
        login = session.auth_data.login.decode() if session.auth_data else None
        assert session.ssl is not None or not self.tls, "mail arrived without TLS on a STARTTLS server"
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on loopback. ``tls_dir`` enables STARTTLS with a certificate for 127.0.0.1 from the CA in that
    folder (``ca_file``; an HttpReceiver given the same folder shares it); ``users`` enables AUTH (login ->
    password)."""

    def __init__(self, *, tls_dir: Path | None = None, users: dict[str, str] | None = None) -> None:
        import ssl

        from devtools import tls

        self.handler = _SmtpHandler(tls=tls_dir is not None)
        self.port = free_port()
        self.ca_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if tls_dir is not None:
            self.ca_file = tls.make_ca(tls_dir)
            cert, key = tls.issue(tls_dir, "smtp", server=True)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs.update(tls_context=context, require_starttls=True)
        if users is not None:

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
                ok = users.get(auth_data.login.decode()) == auth_data.password.decode()
                return AuthResult(success=ok, handled=False, auth_data=auth_data)

            kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=tls_dir is not None)
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def mails(self) -> list[Mail]:
        return self.handler.mails

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._controller.stop()
