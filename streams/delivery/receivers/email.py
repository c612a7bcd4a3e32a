"""Email over SMTP (aiosmtplib): a text and an HTML part per trigger."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import aiosmtplib

from .. import render, retry
from ..retry import Attempt, Outcome
from .base import ReceiverKind, ResolvedReceiver, scrub

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class EmailSender:
    def __init__(self, receiver: ResolvedReceiver) -> None:
        assert receiver.spec.email is not None
        self.receiver = receiver
        self.retry = receiver.spec.retry
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
                message,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=self._password,
                use_tls=smtp.security == "tls",
                start_tls=smtp.security == "starttls",
                validate_certs=smtp.validate_certs,
                timeout=timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return retry.from_smtp(first.code, f"every recipient refused: {first.message}")
        except aiosmtplib.SMTPResponseException as exc:
            return retry.from_smtp(exc.code, exc.message)
        except (TimeoutError, aiosmtplib.SMTPTimeoutError):
            return Attempt(Outcome.RETRY, "timeout", f"SMTP server silent for {timeout} s")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Attempt(
                Outcome.RETRY, "connection", scrub(f"{type(exc).__name__}: {exc}", self.receiver.secret_values())
            )
        detail = f"accepted for {len(to) - len(refused)} of {len(to)} recipients"
        if refused:
            detail += "; refused: " + ", ".join(f"{a} ({r.code})" for a, r in refused.items())
        return Attempt(Outcome.DELIVERED, "ok", detail)


def _sender(receiver: ResolvedReceiver, session: aiohttp.ClientSession) -> EmailSender:
    return EmailSender(receiver)  # SMTP: no HTTP session


KIND = ReceiverKind("email", _sender)
