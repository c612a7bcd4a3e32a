"""API keys and the per-key rate limit.

A key is ``cdpk_<key id>_<secret>`` in the ``X-API-Key`` header. The API holds
the api-keys topic (hashes only) in memory; a key created or revoked with the
CLI takes effect within the time it takes the API to read the record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from schemas.apikeys import ApiKey, Scope, split_key

from ..kafka.compacted import Records
from .problems import ProblemError

HEADER = "X-API-Key"


def authenticate(keys: Records[ApiKey], presented: str | None, needed: Scope) -> ApiKey:
    """The key's record; 401 when missing, malformed, unknown or revoked; 403 when its scope is too small."""
    if not presented:
        raise ProblemError(401, f"send an API key in the {HEADER} header", headers={"WWW-Authenticate": HEADER})
    parts = split_key(presented.strip())
    record = keys.get(parts[0]) if parts else None
    if parts is None or record is None or not record.matches(parts[1]):
        raise ProblemError(
            401, "the API key is not valid (malformed, unknown or revoked)", headers={"WWW-Authenticate": HEADER}
        )
    if not record.allows(needed):
        raise ProblemError(
            403,
            f"the API key {record.key_id} ({record.name}) has scope {record.scope!r}; this operation needs {needed!r}",
        )
    return record


@dataclass
class RateLimiter:
    """A token bucket per key: ``per_minute`` requests (or events) a minute, bursts up to that."""

    per_minute: int
    what: str = "requests"
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # key id -> (tokens, at)

    def take(self, key_id: str, now: float, cost: int = 1) -> float:
        """0 when ``cost`` tokens were taken; otherwise the seconds to wait until they can be (none is taken).
        ``cost`` is at most ``per_minute``."""
        rate = self.per_minute / 60.0
        tokens, at = self._buckets.get(key_id, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - at) * rate)
        if tokens >= cost:
            self._buckets[key_id] = (tokens - cost, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (cost - tokens) / rate

    def check(self, key_id: str, now: float, cost: int = 1) -> None:
        wait = self.take(key_id, now, cost)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ProblemError(
                429,
                f"more than {self.per_minute} {self.what} a minute with this key; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
