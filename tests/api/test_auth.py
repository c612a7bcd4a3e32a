"""API keys and the rate limit: pure logic."""

from datetime import UTC, datetime

import pytest

from schemas.apikeys import ApiKey, digest, new_key, split_key
from streams.api.auth import RateLimiter, authenticate
from streams.api.problems import ProblemError
from streams.kafka.codec import encode
from streams.kafka.compacted import Records


def ring(scope: str = "write") -> tuple[Records[ApiKey], str]:
    key_id, secret, full = new_key()
    keys: Records[ApiKey] = Records(ApiKey, lambda k: k.key_id, 65536)
    record = ApiKey(key_id=key_id, name="n", scope=scope, sha256=digest(secret), created_at=datetime.now(UTC))
    keys.apply(key_id.encode(), encode(record))
    return keys, full


def test_only_the_hash_is_stored_and_the_full_key_authenticates():
    keys, full = ring()
    stored = keys.get(full.split("_")[1])
    assert stored is not None and full.split("_", 2)[2] not in stored.model_dump_json()
    assert authenticate(keys, full, "write") is stored


@pytest.mark.parametrize("presented", [None, "", "cdpk_", "bearer x", "cdpk_000000000000_x"])
def test_missing_malformed_or_unknown_keys_are_401(presented):
    keys, _ = ring()
    with pytest.raises(ProblemError) as caught:
        authenticate(keys, presented, "read")
    assert caught.value.status == 401


def test_a_wrong_secret_or_a_revoked_key_is_401_and_a_small_scope_403():
    keys, full = ring("read")
    with pytest.raises(ProblemError) as wrong:
        authenticate(keys, full[:-1] + ("A" if full[-1] != "A" else "B"), "read")
    assert wrong.value.status == 401
    with pytest.raises(ProblemError) as weak:
        authenticate(keys, full, "write")
    assert weak.value.status == 403
    keys.apply(full.split("_")[1].encode(), None)
    with pytest.raises(ProblemError) as revoked:
        authenticate(keys, full, "read")
    assert revoked.value.status == 401


def test_split_key_keeps_underscores_in_the_secret():
    assert split_key("cdpk_abcdefabcdef_a_b-c") == ("abcdefabcdef", "a_b-c")


def test_the_bucket_allows_a_burst_then_refills_at_the_rate():
    limiter = RateLimiter(per_minute=6)  # one token every 10 s
    assert [limiter.take("k", 0.0) for _ in range(6)] == [0.0] * 6
    assert limiter.take("k", 0.0) == pytest.approx(10.0)
    assert limiter.take("other", 0.0) == 0.0
    assert limiter.take("k", 5.0) == pytest.approx(5.0)
    assert limiter.take("k", 10.0) == 0.0


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("read", {"read"}), ("write", {"read", "write"}), ("operate", {"read", "operate"})],
)
def test_each_scope_allows_reading_and_only_its_own_changes(scope, allowed):
    keys, full = ring(scope)
    for needed in ("read", "write", "operate"):
        if needed in allowed:
            authenticate(keys, full, needed)
        else:
            with pytest.raises(ProblemError) as refused:
                authenticate(keys, full, needed)
            assert refused.value.status == 403 and f"needs {needed!r}" in refused.value.detail
