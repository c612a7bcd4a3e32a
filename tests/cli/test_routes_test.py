"""``routes test``: one sample, rendered and signed as real triggers are, sent once to a receiver of a routes file;
the receiver's own answer is shown, and the event says it is a test."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from streams.settings import Settings
from tests.support.cli import cli
from tests.support.dispatcher import SECRET
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.subprocess


def test_a_test_send_is_signed_marked_and_answers_with_the_receivers_words(tmp_path):
    script = lambda path, n: ("status", 401) if path == "/reject" else ("status", 204)  # noqa: E731
    with HttpReceiver(script) as http:
        routes = tmp_path / "routes.yaml"
        receivers = [
            {"name": "signed", "webhook": {"url": {"env": "OK_URL"}, "signing_secret": {"env": "SECRET"}}},
            {"name": "binary", "webhook": {"url": {"env": "BIN_URL"}, "mode": "binary"}},
            {"name": "refusing", "webhook": {"url": {"env": "BAD_URL"}}},
        ]
        routes.write_text(json.dumps({"receivers": receivers, "route": {"receiver": "signed"}}))
        env = {"OK_URL": http.url("/ok"), "BIN_URL": http.url("/bin"), "BAD_URL": http.url("/reject"), "SECRET": SECRET}

        sent = cli(Settings(), "routes", "test", str(routes), "signed", "--type", "segment.threshold.crossed", **env)
        assert sent.returncode == 0 and "signed: delivered (ok): HTTP 204" in sent.stdout, sent.stdout + sent.stderr
        [request] = http.on("/ok")
        event = Webhook(SECRET).verify(request.body, request.headers)
        assert event["cdptest"] is True and event["id"].startswith("test-") and event["id"] in sent.stdout
        assert event["type"].endswith("segment.threshold.crossed.v1") and event["data"]["owner"] == ""

        binary = cli(Settings(), "routes", "test", str(routes), "binary", **env)
        assert binary.returncode == 0, binary.stdout + binary.stderr
        [request] = http.on("/bin")
        assert request.headers["ce-cdptest"] == "true" and request.headers["ce-id"].startswith("test-")

        refused = cli(Settings(), "routes", "test", str(routes), "refusing", **env)
        assert refused.returncode == 1 and "not delivered (http_4xx): HTTP 401: answer" in refused.stdout
    unknown = cli(Settings(), "routes", "test", str(routes), "nobody", **env)
    assert unknown.returncode == 2 and "RECEIVER 'nobody'" in unknown.stderr
    wrong = cli(Settings(), "routes", "test", str(routes), "signed", "--type", "segment.crossed", **env)
    assert wrong.returncode == 2 and "--type 'segment.crossed'" in wrong.stderr
