"""What every receiver is: a declaration (``ReceiverKind``) and a sender that
makes one attempt to hand over one trigger event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from pydantic import SecretStr

from schemas.routes import Receiver, RetryPolicy

from ..retry import Attempt


@dataclass(frozen=True)
class ResolvedReceiver:
    """A receiver of the routes file with its secrets read, by the field name
    of their ``SecretRef`` ("url", "signing_secret", "password")."""

    spec: Receiver
    secrets: dict[str, SecretStr] = field(default_factory=dict)

    def secret(self, name: str) -> str:
        return self.secrets[name].get_secret_value()

    def secret_values(self) -> list[str]:
        return [s.get_secret_value() for s in self.secrets.values() if s.get_secret_value()]


class Sender(Protocol):
    retry: RetryPolicy

    async def attempt(self, event: dict[str, Any], raw: bytes) -> Attempt: ...


def _no_check(name: str, value: str) -> None:
    return None


@dataclass(frozen=True)
class ReceiverKind:
    """One receiver type. Its YAML shape is the ``<name>`` target model in
    ``schemas.routes``; its secrets are that model's ``SecretRef`` fields."""

    name: str
    sender: Callable[[ResolvedReceiver, aiohttp.ClientSession], Sender]
    check_secret: Callable[[str, str], None] = _no_check  # (field name, value); ValueError says what is wrong


def scrub(text: str, secrets: list[str]) -> str:
    """An error text fit for logs and dead letters: secrets masked, bounded."""
    for secret in secrets:
        text = text.replace(secret, "********")
    return text[:500]
