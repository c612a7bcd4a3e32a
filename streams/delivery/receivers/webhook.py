"""Any HTTP endpoint: the CloudEvents HTTP binding, signed per Standard Webhooks."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from .. import render
from .base import ReceiverKind, ResolvedReceiver
from .http import HttpSender, check_url
from .signing import parse_secret, signature


class WebhookSender(HttpSender):
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


def _check(name: str, value: str) -> None:
    check_url(name, value)
    if name == "signing_secret":
        parse_secret(value)


KIND = ReceiverKind("webhook", WebhookSender, _check)
