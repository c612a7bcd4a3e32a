"""Any HTTP endpoint: the CloudEvents HTTP binding, signed per Standard Webhooks."""

from __future__ import annotations

import time
from typing import Any, Literal

import aiohttp

from schemas.routes import RetryPolicy

from .. import render
from .base import ReceiverKind, ResolvedReceiver
from .http import HttpSender, check_url
from .signing import parse_secret, signature


class WebhookSender(HttpSender):
    def __init__(
        self,
        url: str,
        policy: RetryPolicy,
        session: aiohttp.ClientSession,
        *,
        key: bytes | None,
        mode: Literal["structured", "binary"] = "structured",
    ) -> None:
        super().__init__(url, policy, session)
        self._mode = mode
        self._key = key

    def request(self, event: dict[str, Any], raw: bytes) -> tuple[dict[str, str], bytes]:
        headers, body = render.cloudevent_request(event, raw, self._mode)
        # The trigger id is the webhook id: equal on every retry and replay, so receivers can drop repeats.
        headers["webhook-id"] = event["id"]
        if self._key is not None:
            now = int(time.time())  # per attempt: verifiers reject timestamps older than a few minutes
            headers["webhook-timestamp"] = str(now)
            headers["webhook-signature"] = signature(self._key, event["id"], now, body)
        return headers, body


def _sender(receiver: ResolvedReceiver, session: aiohttp.ClientSession) -> WebhookSender:
    target = receiver.spec.webhook
    assert target is not None
    key = parse_secret(receiver.secret("signing_secret")) if "signing_secret" in receiver.secrets else None
    return WebhookSender(receiver.secret("url"), receiver.spec.retry, session, key=key, mode=target.mode)


def _check(name: str, value: str) -> None:
    check_url(name, value)
    if name == "signing_secret":
        parse_secret(value)


KIND = ReceiverKind("webhook", _sender, _check)
