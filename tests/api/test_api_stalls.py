"""The API never authenticates with a stale key list: a key revoked elsewhere
is refused within ``CDP_API_KEYS_MAX_AGE_SECONDS``, and while the keys topic
cannot be read (its broker frozen with SIGSTOP: nothing refused, nothing
answered) every request gets 503 and ``/healthz`` says why, until Kafka
answers again."""

from __future__ import annotations

import os
import signal
import time

import pytest

from schemas.apikeys import split_key
from tests.support.api import api_keys, create_key, own_api
from tests.support.measured import measured

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

MAX_AGE = 3.0


def _until(check, timeout: float) -> float:
    """Seconds until ``check()`` is true (AssertionError after ``timeout``)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return time.monotonic() - began
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_a_key_revoked_elsewhere_is_refused_within_the_bound(own_broker, tmp_path):
    settings, process, api = own_api(own_broker.bootstrap, tmp_path, api_keys_max_age_seconds=MAX_AGE)
    try:
        other = create_key(settings, "other", "read")
        assert _until(lambda: api.call("GET", "/v1/subscriptions", key=other).status_code == 200, 10) >= 0
        key_id = split_key(other)[0]
        revoked = api_keys(settings, "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        took = _until(lambda: api.call("GET", "/v1/subscriptions", key=other).status_code == 401, MAX_AGE)
        assert api.call("GET", "/v1/subscriptions").status_code == 200  # the test's own key still works
    finally:
        process.stop()
    measured(
        "api-key-revoked",
        f"a revoked key refused {took:.2f} s after the CLI wrote the revocation (bound {MAX_AGE:g} s)",
        refused_after_s=round(took, 2),
        bound_s=MAX_AGE,
    )


def test_while_the_keys_topic_cannot_be_read_every_request_gets_503_and_healthz_says_why(own_broker, tmp_path):
    settings, process, api = own_api(own_broker.bootstrap, tmp_path, api_keys_max_age_seconds=MAX_AGE)
    broker_pid = own_broker.pid()
    assert broker_pid is not None
    try:
        assert api.call("GET", "/v1/subscriptions").status_code == 200
        assert api.call("GET", "/healthz").status_code == 200
        os.kill(broker_pid, signal.SIGSTOP)
        frozen = time.monotonic()
        refused = _until(lambda: api.call("GET", "/v1/subscriptions").status_code == 503, MAX_AGE + 5)
        response = api.call("GET", "/v1/subscriptions")
        assert response.status_code == 503 and "cannot confirm that its list of API keys is current" in response.text
        assert response.headers["content-type"] == "application/problem+json"
        health = api.call("GET", "/healthz")
        assert health.status_code == 503 and "API keys" in health.json()["detail"]
        ready = api.call("GET", "/readyz")  # the probe Kubernetes asks: not ready, and why; alive all along
        assert ready.status_code == 503 and "API keys last confirmed" in ready.json()["checks"]["store"], ready.text
        assert api.call("GET", "/livez").status_code == 200
        assert time.monotonic() - frozen <= MAX_AGE + 5
        os.kill(broker_pid, signal.SIGCONT)
        back = _until(lambda: api.call("GET", "/v1/subscriptions").status_code == 200, 60)
        assert api.call("GET", "/healthz").status_code == 200
        assert api.call("GET", "/readyz").json() == {"status": "ready"}
    finally:
        os.kill(broker_pid, signal.SIGCONT)
        process.stop()
    measured(
        "api-broker-frozen",
        f"refused {refused:.1f} s after the broker froze (bound {MAX_AGE:g} s), served again {back:.1f} s after it "
        "resumed",
        refused_after_s=round(refused, 1),
        bound_s=MAX_AGE,
        served_again_after_s=round(back, 1),
    )
