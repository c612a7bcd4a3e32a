"""The HTTP attempt shared by Teams and webhooks: POST, classify the answer."""

from __future__ import annotations

from typing import Any

import aiohttp

from schemas.routes import RetryPolicy

from .. import retry
from ..retry import Attempt, Outcome
from .base import scrub


def check_url(name: str, value: str) -> None:
    if name == "url" and not value.startswith(("http://", "https://")):
        raise ValueError("the URL must start with http:// or https://")


class HttpSender:
    def __init__(self, url: str, policy: RetryPolicy, session: aiohttp.ClientSession) -> None:
        self.retry = policy
        self._session = session
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout_seconds)

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
        except TimeoutError:
            return Attempt(Outcome.RETRY, "timeout", f"no complete answer within {self._timeout.total} s")
        except aiohttp.ClientError as exc:
            return Attempt(Outcome.RETRY, "connection", scrub(f"{type(exc).__name__}: {exc}", [self._url]))
        return Attempt(found.outcome, found.result, scrub(found.detail, [self._url]), found.retry_after)
