"""Console sign-in sessions: held by the API process, named by a random token in a cookie.

A session holds the key's id and scope, never its secret, and a CSRF token for the forms. It ends after
``idle`` seconds without a request, at sign-out, and at once when its key is revoked or no longer known (checked
on every request against the keys the API holds). Signing in always makes a new session (the token rotates).
At most ``limit`` sessions are held; the least recently used goes first.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from schemas.apikeys import Scope


@dataclass(frozen=True)
class Session:
    key_id: str
    key_name: str
    scope: Scope
    csrf: str
    seen: float  # time.monotonic() of its last request


@dataclass
class Sessions:
    idle: float  # seconds
    limit: int = 1000
    _held: OrderedDict[str, Session] = field(default_factory=OrderedDict)

    def open(self, key_id: str, key_name: str, scope: Scope, now: float) -> tuple[str, Session]:
        """A new session for a key that was just checked: its token and itself."""
        token = secrets.token_urlsafe(32)
        session = Session(key_id, key_name, scope, secrets.token_urlsafe(32), now)
        self._held[token] = session
        while len(self._held) > self.limit:
            self._held.popitem(last=False)
        return token, session

    def find(self, token: str | None, now: float) -> Session | None:
        """The live session of ``token`` (its idle time restarts), or None."""
        session = self._held.get(token) if token else None
        if session is None:
            return None
        assert token is not None
        if now - session.seen > self.idle:
            del self._held[token]
            return None
        session = replace(session, seen=now)
        self._held[token] = session
        self._held.move_to_end(token)
        return session

    def close(self, token: str | None) -> None:
        if token:
            self._held.pop(token, None)

    def __len__(self) -> int:
        return len(self._held)


def same_token(sent: str | None, expected: str) -> bool:
    """A form's CSRF token against its session's, in constant time."""
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())
