"""Deliveries to the API's webhook registrations ("hooks").

Each hook is a receiver named ``hook:<id>``: its deliveries are recorded,
retried, dead-lettered and never repeated beyond the documented crash window,
exactly like a routes-file webhook. What differs is where hooks come from:
the compacted hooks topic, which every dispatcher holds in memory and follows,
so a hook registered through the API gets triggers without a restart.

A hook gets the trigger events published at or after its registration (by
the clocks of the API's and the worker's hosts); before an event newer than
what the dispatcher has confirmed of the hooks topic is routed, the view is
brought up to date, so a hook registered just before a trigger is not missed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from schemas.hooks import Hook, HookFilter, hook_secret
from schemas.routes import RetryPolicy

from ..kafka.compacted import CompactedView, Records
from ..kafka.egress import EgressDenied, EgressPolicy, GuardedResolver
from ..metrics import Metrics
from ..settings import Settings
from ..topics import Topics
from .receivers.signing import parse_secret
from .receivers.webhook import WebhookSender
from .retry import Attempt, Outcome
from .routing import Facts

log = logging.getLogger("cdp_triggers.dispatcher")
PREFIX = "hook:"
KIND = "hook"  # the metrics label of deliveries to hooks
POLICY = RetryPolicy()
CLOCK_SKEW_SECONDS = 5.0  # the hooks view is refreshed for events published later than its confirmation minus this


def receiver_name(hook_id: str) -> str:
    return PREFIX + hook_id


def matches(f: HookFilter, facts: Facts) -> bool:
    kind, _, entity_id = facts.subject.partition("/")
    if f.entity_kind is not None and f.entity_kind != kind:
        return False
    if f.entity_id is not None and f.entity_id != entity_id:
        return False
    if f.subscription_id is not None and f.subscription_id != facts.subscription_id:
        return False
    return all(facts.labels.get(k) == v for k, v in f.labels.items())


def hooks_for(hooks: Iterable[Hook], facts: Facts, published: datetime) -> list[str]:
    """Receiver names of the hooks an event goes to, in id order (pure)."""
    return sorted(
        receiver_name(h.id)
        for h in hooks
        if facts.type in h.types and h.created_at <= published and matches(h.filter, facts)
    )


class HookSender(WebhookSender):
    """A webhook sender that checks the egress policy before each attempt (the
    resolver checks names; this catches literal addresses and a policy changed
    since the hook was registered)."""

    def __init__(self, hook: Hook, signing_key: bytes, session: aiohttp.ClientSession, policy: EgressPolicy) -> None:
        super().__init__(
            str(hook.url), POLICY, session, key=parse_secret(hook_secret(signing_key, hook.id, hook.nonce))
        )
        self._policy = policy

    async def attempt(self, event: dict[str, Any], raw: bytes) -> Attempt:
        try:
            self._policy.check_url(self._url)
        except EgressDenied as exc:
            return Attempt(Outcome.REJECTED, "denied", str(exc))
        return await super().attempt(event, raw)


class HookBook:
    """The hooks a dispatcher delivers to, with one sender each."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self._key = settings.hook_key()
        self._egress = EgressPolicy.of(settings)
        self._ca_file = settings.hook_ca_file
        on_invalid = (lambda message: metrics.hooks_invalid.inc()) if metrics else None
        self.records: Records[Hook] = Records(Hook, lambda h: h.id, settings.max_event_bytes, on_invalid=on_invalid)
        self._metrics = metrics
        self.view = CompactedView(settings, Topics(settings).hooks, self.apply)
        self._senders: dict[str, HookSender] = {}
        self._session: aiohttp.ClientSession | None = None

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        self.records.apply(key, value)
        if self._metrics is not None:
            self._metrics.hooks.set(len(self.records))

    @property
    def enabled(self) -> bool:
        return self._key is not None

    async def fresh_for(self, published: float) -> None:
        """Make sure hooks registered before ``published`` (epoch seconds) are known."""
        if published > self.view.confirmed_at - CLOCK_SKEW_SECONDS:
            await self.view.caught_up()

    def route(self, facts: Facts, published: float) -> list[str]:
        if not self.enabled:
            return []
        return hooks_for(self.records, facts, datetime.fromtimestamp(published, UTC))

    def hook(self, name: str) -> Hook | None:
        return self.records.get(name.removeprefix(PREFIX))

    def sender(self, name: str) -> HookSender | None:
        """The sender of a hook receiver; None when the hook was deleted meanwhile."""
        hook = self.hook(name)
        if hook is None or self._key is None:
            self._senders.pop(name, None)
            return None
        cached = self._senders.get(name)
        if cached is None:
            cached = self._senders[name] = HookSender(hook, self._key, self._client(), self._egress)
        return cached

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use: it must belong to the running loop
            import ssl

            context = ssl.create_default_context()
            if self._ca_file is not None:
                context.load_verify_locations(cafile=str(self._ca_file))
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._egress), ssl=context)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": "cdp-triggers"})
        return self._session

    async def close(self) -> None:
        """The HTTP session only. The view closes itself when its follower is cancelled: closing it here, at
        ``on_before_shutdown`` and so before Faust cancels the follower, made the follower fail the process, and
        a SIGTERM ended the dispatcher with code 3."""
        if self._session is not None:
            await self._session.close()
