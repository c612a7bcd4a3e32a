"""Console sign-in sessions, carried by the browser in a signed cookie, so that every replica of the API serves
them: no replica must be the one that signed the user in.

A session names the key's id, never its secret; the key's name and scope are read from the API's key list at each
request, so a revoked key ends its sessions at once everywhere, and a changed scope applies at once. The cookie is
signed with HMAC-SHA256 under a key derived from the hook signing key, which every API replica holds. A session
ends after ``idle`` seconds without a page, after ``lifetime`` in any case, and at sign-out. Signing in always
makes a new session (a new random id, so the token rotates). Its CSRF token is derived from its id.

Sign-out and a new sign-in end the old session on the replica that served them at once (it keeps the ended ids
until they would have expired anyway), and on the other replicas once it has been idle for ``idle`` seconds;
revoking the key ends it everywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

REFRESH = 60.0  # seconds: a page re-signs the cookie at most this often, so that the idle time restarts
LIFETIME = 12 * 3600.0  # seconds: a session ends this long after sign-in, however busy
ENDED_HELD = 10_000  # ended session ids a process remembers (sign-outs): the oldest go first


@dataclass(frozen=True)
class Session:
    sid: str  # random, new at every sign-in
    key_id: str
    started: float  # epoch seconds
    seen: float  # epoch seconds of the page that last re-signed it
    csrf: str


@dataclass
class Sessions:
    secret: bytes
    idle: float  # seconds
    lifetime: float = LIFETIME
    _ended: dict[str, float] = field(default_factory=dict)  # session id -> when it would have expired

    @classmethod
    def under(cls, signing_key: bytes, idle: float) -> Sessions:
        """Sessions signed under a key of their own, derived from the API's signing key."""
        return cls(hmac.new(signing_key, b"cdp-triggers console sessions", hashlib.sha256).digest(), idle)

    def open(self, key_id: str, now: float) -> str:
        """A new session for a key that was just checked: its cookie value."""
        return self._token(secrets.token_urlsafe(18), key_id, now, now)

    def find(self, token: str | None, now: float) -> Session | None:
        """The live session of ``token``: signed here, not idle, not past its lifetime, not ended; else None."""
        parts = (token or "").split(".")
        if len(parts) != 5 or not hmac.compare_digest(parts[4], self._sign(".".join(parts[:4]))):
            return None
        sid, key_id, started_text, seen_text, _ = parts
        try:
            started, seen = float(started_text), float(seen_text)
        except ValueError:
            return None
        if now - seen > self.idle or now - started > self.lifetime or sid in self._ended:
            return None
        return Session(sid, key_id, started, seen, self._sign("csrf." + sid))

    def renewed(self, session: Session, now: float) -> str | None:
        """The session's cookie signed anew at ``now`` (its idle time restarting), when it is due; else None."""
        return self._token(session.sid, session.key_id, session.started, now) if now - session.seen >= REFRESH else None

    def close(self, token: str | None, now: float) -> None:
        """End the session of ``token`` on this process."""
        session = self.find(token, now)
        if session is None:
            return
        self._ended[session.sid] = session.started + self.lifetime
        if len(self._ended) > ENDED_HELD:
            for sid in [s for s, until in self._ended.items() if until < now] or list(self._ended)[:1]:
                del self._ended[sid]

    def _token(self, sid: str, key_id: str, started: float, seen: float) -> str:
        payload = f"{sid}.{key_id}.{started:.0f}.{seen:.0f}"
        return f"{payload}.{self._sign(payload)}"

    def _sign(self, text: str) -> str:
        mac = hmac.new(self.secret, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def same_token(sent: str | None, expected: str) -> bool:
    """A form's CSRF token against its session's, in constant time."""
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())
