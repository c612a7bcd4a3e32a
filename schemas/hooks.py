"""Webhook registrations ("REST hooks"): an automation tool (Power Automate,
Logic Apps, Zapier, a script) asks for trigger events of some types to be
POSTed to its callback URL, and deletes the registration when it is done.

Stored on the compacted hooks topic keyed by hook id; a tombstone deletes one.
Every dispatcher follows that topic and delivers to the hooks it holds.

A hook's signing secret is never stored: it is derived from the operators'
key (``CDP_HOOK_SIGNING_KEY``) and the hook's id and random nonce, so the API
that hands it out and every dispatcher that signs with it compute the same
one, and reading the topic reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyUrl, AwareDatetime, Field, UrlConstraints, field_validator

from .events import Id, _Model
from .subscriptions import Labels
from .triggers import TriggerType

TRIGGER_NAMES = tuple(sorted(t.short for t in TriggerType))
TriggerName = Literal[TRIGGER_NAMES]  # type: ignore[valid-type]  # built from the enum at run time; pydantic reads it
EntityKind = Literal["segment", "measure", "data-source", "refresh-run"]  # the subject's prefix
HookId = Annotated[str, Field(pattern=r"^hk_[a-z0-9]{20,40}$", description="hk_ and lower-case letters and digits")]


class HookFilter(_Model):
    """All given conditions must hold; none given: every event of the hook's types."""

    entity_kind: EntityKind | None = Field(None, description="The trigger's subject kind")
    entity_id: Id | None = Field(None, description="The trigger's subject id, e.g. a segment id")
    subscription_id: Id | None = Field(None, description="Threshold triggers of this subscription only")
    labels: Labels = Field(
        default_factory=dict, description="Threshold triggers whose subscription has all these labels"
    )


class HookRequest(_Model):
    """What a client sends to register a hook."""

    url: Annotated[AnyUrl, UrlConstraints(max_length=2048)] = Field(
        description="Callback URL: https, and not a loopback, private or link-local address"
    )
    types: Annotated[list[TriggerName], Field(min_length=1, max_length=len(TRIGGER_NAMES))] = Field(
        description="Trigger types to deliver, e.g. segment.threshold.crossed"
    )
    filter: HookFilter = Field(default_factory=HookFilter)
    description: Annotated[str, Field(max_length=256)] = Field("", description="Free text, e.g. the flow's name")

    @field_validator("types")
    @classmethod
    def _distinct(cls, types: list[str]) -> list[str]:
        return sorted(set(types))


class Hook(HookRequest):
    """A registration as stored on the hooks topic."""

    id: HookId
    nonce: Annotated[str, Field(min_length=16, max_length=64)] = Field(description="Random; input of the secret")
    created_at: AwareDatetime = Field(description="Trigger events published before this are not delivered to it")
    created_by: str = Field(description="Id of the API key that registered it")


def hook_secret(signing_key: bytes, hook_id: str, nonce: str) -> str:
    """The hook's Standard Webhooks secret, ``whsec_`` + base64 of 32 bytes."""
    digest = hmac.new(signing_key, f"hook-secret|{hook_id}|{nonce}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


def created_before(hook: Hook, published: datetime) -> bool:
    return hook.created_at <= published
