import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from streams.delivery.receivers.signing import parse_secret, signature

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_signature_verifies_with_the_reference_implementation():
    body = b'{"id":"t-1","data":{"x":1}}'
    now = int(time.time())
    headers = {
        "webhook-id": "t-1",
        "webhook-timestamp": str(now),
        "webhook-signature": signature(parse_secret(SECRET), "t-1", now, body),
    }
    assert Webhook(SECRET).verify(body, headers) == {"id": "t-1", "data": {"x": 1}}


def test_a_changed_body_or_id_fails_verification():
    body = b'{"a":1}'
    now = int(time.time())
    sig = signature(parse_secret(SECRET), "t-1", now, body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(
            b'{"a":2}', {"webhook-id": "t-1", "webhook-timestamp": str(now), "webhook-signature": sig}
        )
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, {"webhook-id": "t-2", "webhook-timestamp": str(now), "webhook-signature": sig})


def test_malformed_or_short_secrets_are_refused_without_echoing_them():
    with pytest.raises(ValueError, match="not base64") as bad:
        parse_secret("whsec_not*base64!")
    assert "not*base64" not in str(bad.value)
    with pytest.raises(ValueError, match="too short"):
        parse_secret("whsec_" + base64.b64encode(b"short").decode())
