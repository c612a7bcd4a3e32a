"""API keys of the triggers API, on the compacted api-keys topic (key: key id;
a tombstone revokes). Only a SHA-256 of the secret part is stored: keys are
256 random bits, for which a slow password hash adds nothing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, Field

from .events import _Model

# read: GET the registries; write: change subscriptions and hooks (and read, and publish); operate: see and replay
# dead letters and failed deliveries (and read), for whoever automates operations; publish: post change events,
# nothing else, for producers (an orchestrator's callback). write and operate are apart on purpose: a flow that
# registers hooks needs no replays, an operator's script changes no subscriptions. write includes publish because
# a Power Automate connection holds one key, and a flow that reacts to triggers may also publish events. admin:
# everything, and managing the other keys; an admin key itself is made only with the CLI, by whoever may write the
# api-keys topic, so that a stolen session cannot mint a lasting key of its own power.
Issuable = Literal["read", "write", "operate", "publish"]  # what an admin key may create
Scope = Literal[Issuable, "admin"]
ISSUABLE: tuple[Issuable, ...] = get_args(Issuable)
_GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write", "publish"}),
    "operate": frozenset({"read", "operate"}),
    "publish": frozenset({"publish"}),
    "admin": frozenset({"read", "write", "operate", "publish", "admin"}),
}
PREFIX = "cdpk"
KeyId = Annotated[str, Field(pattern=r"^[a-z0-9]{12}$")]


class ApiKey(_Model):
    key_id: KeyId
    name: Annotated[str, Field(min_length=1, max_length=128)] = Field(description="Who or what uses it")
    scope: Scope
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    created_at: AwareDatetime
    created_by: str | None = Field(None, description="The key that created it, or null: the CLI")

    def stored(self) -> bytes:
        """The record as the api-keys topic holds it; null fields left out, so a process from before a field was
        added still reads a record that does not use it."""
        return self.model_dump_json(exclude_none=True).encode()

    def allows(self, needed: Scope) -> bool:
        return needed in _GRANTS[self.scope]

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.sha256, digest(secret))


def issue(name: str, scope: Scope, created_by: str | None = None) -> tuple[ApiKey, str]:
    """A new key's record (its hash only) and the full key, to be shown once; ValidationError names a bad field."""
    key_id, secret, full = new_key()
    record = ApiKey(
        key_id=key_id,
        name=name,
        scope=scope,
        sha256=digest(secret),
        created_at=datetime.now(UTC),
        created_by=created_by,
    )
    return record, full


def new_key() -> tuple[str, str, str]:
    """(key id, secret part, the full key a client sends: cdpk_<id>_<secret>)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"{PREFIX}_{key_id}_{secret}"


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a presented key; None when it is not shaped like one."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 12 or not secret:
        return None
    return key_id, secret


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
