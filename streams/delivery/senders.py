"""The I/O: one attempt to hand a trigger event to a receiver, over HTTP
(Teams, webhooks) or SMTP, turned into an ``Attempt``. No retries here."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Protocol

import aiohttp
import aiosmtplib
import orjson

from . import render, retry
from .config import ResolvedReceiver
from .retry import Attempt, Outcome
from .signing import parse_secret, signature

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class Sender(Protocol):
    receiver: ResolvedReceiver

    async def attempt(self, event: dict[str, Any], raw: bytes) -> Attempt: ...


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "********")
    return text[:500]


class _HttpSender:
    def __init__(self, receiver: ResolvedReceiver, session: aiohttp.ClientSession) -> None:
        self.receiver = receiver
        self._session = session
        self._url = receiver.secret("url")
        self._timeout = aiohttp.ClientTimeout(total=receiver.spec.retry.timeout_seconds)

    def request(self, event: dict[str, Any], raw: bytes) -> tuple[dict[str, str], bytes]:
        raise NotImplementedError

    async def attempt(self, event: dict[str, Any], raw: bytes) -> Attempt:
        headers, body = self.request(event, raw)
        try:
            # Redirects are not followed: a signed body must not travel to a host nobody configured.
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                excerpt = (await response.content.read(200)).decode("utf-8", "replace").strip()
                found = retry.from_http(response.status, response.headers, excerpt)
        except asyncio.TimeoutError:
            return Attempt(Outcome.RETRY, "timeout", f"no complete answer within {self._timeout.total} s")
        except aiohttp.ClientError as exc:
            return Attempt(Outcome.RETRY, "connection", _scrub(f"{type(exc).__name__}: {exc}", [self._url]))
        return Attempt(found.outcome, found.result, _scrub(found.detail, [self._url]), found.retry_after)


class TeamsSender(_HttpSender):
    def request(self, event: dict[str, Any], raw: bytes) -> tuple[dict[str, str], bytes]:
        return {"Content-Type": "application/json"}, orjson.dumps(render.teams_message(event))


class WebhookSender(_HttpSender):
    def __init__(self, receiver: ResolvedReceiver, session: aiohttp.ClientSession) -> None:
        super().__init__(receiver, session)
        assert receiver.spec.webhook is not None
        self._mode = receiver.spec.webhook.mode
        self._key = parse_secret(receiver.secret("signing_secret")) if "signing_secret" in receiver.secrets else None

    def request(self, event: dict[str, Any], raw: bytes) -> tuple[dict[str, str], bytes]:
        headers, body = render.cloudevent_request(event, raw, self._mode)
        # The trigger id is the webhook id: equal on every retry and replay, so receivers can drop repeats.
        headers["webhook-id"] = event["id"]
        if self._key is not None:
            now = int(time.time())  # per attempt: verifiers reject timestamps older than a few minutes
            headers["webhook-timestamp"] = str(now)
            headers["webhook-signature"] = signature(self._key, event["id"], now, body)
        return headers, body


class EmailSender:
    def __init__(self, receiver: ResolvedReceiver) -> None:
        assert receiver.spec.email is not None
        self.receiver = receiver
        self._target = receiver.spec.email
        self._password = receiver.secret("password") if "password" in receiver.secrets else None

    def recipients(self, event: dict[str, Any]) -> list[str]:
        found = list(self._target.to)
        owner = (event.get("data") or {}).get("owner")
        if self._target.to_owner and isinstance(owner, str) and _ADDRESS.match(owner):
            found.append(owner)
        return list(dict.fromkeys(found))

    async def attempt(self, event: dict[str, Any], raw: bytes) -> Attempt:
        to = self.recipients(event)
        if not to:
            return Attempt(Outcome.REJECTED, "no_recipients", "no 'to' address and the owner is not an address")
        message = render.email_message(event, self._target.sender, to, self.receiver.spec.name)
        smtp = self._target.smtp
        timeout = self.receiver.spec.retry.timeout_seconds
        try:
            refused, _ = await aiosmtplib.send(
                message, hostname=smtp.host, port=smtp.port, username=smtp.username, password=self._password,
                use_tls=smtp.security == "tls", start_tls=smtp.security == "starttls",
                validate_certs=smtp.validate_certs, timeout=timeout,
            )  # fmt: skip
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return retry.from_smtp(first.code, f"every recipient refused: {first.message}")
        except aiosmtplib.SMTPResponseException as exc:
            return retry.from_smtp(exc.code, exc.message)
        except (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError):
            return Attempt(Outcome.RETRY, "timeout", f"SMTP server silent for {timeout} s")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt(Outcome.RETRY, "connection", _scrub(f"{type(exc).__name__}: {exc}", self.receiver.secret_values()))
        detail = f"accepted for {len(to) - len(refused)} of {len(to)} recipients"
        if refused:
            detail += "; refused: " + ", ".join(f"{a} ({r.code})" for a, r in refused.items())
        return Attempt(Outcome.DELIVERED, "ok", detail)


def make_sender(receiver: ResolvedReceiver, session: aiohttp.ClientSession) -> Sender:
    kind = receiver.spec.kind
    if kind == "teams":
        return TeamsSender(receiver, session)
    if kind == "webhook":
        return WebhookSender(receiver, session)
    return EmailSender(receiver)
