"""Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256
over ``{id}.{timestamp}.{body}``, keyed by the base64 secret after 'whsec_'."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"


def parse_secret(secret: str) -> bytes:
    """The key bytes; ValueError (without the secret in it) when malformed."""
    encoded = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("signing secret is not base64 (expected 'whsec_' followed by base64)") from None
    if len(key) < 16:
        raise ValueError(f"signing secret is too short ({len(key)} bytes; use at least 24 random bytes)")
    return key


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = b"%s.%d.%s" % (webhook_id.encode(), timestamp, body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
