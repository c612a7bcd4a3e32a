"""Every delivery attempt is recorded: a receiver that answers 503 twice and then 200 leaves three records (the
answer, the latency, when the next attempt was due) that 'deliveries attempts' and the API show with the
receiver's health."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.support.api import api_settings, start_api
from tests.support.cli import cli
from tests.support.dispatcher import dispatcher_settings, produce_triggers
from tests.support.receivers import HttpReceiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_each_attempt_is_recorded_with_the_answer_and_the_next_due_time(kafka, settings, worker_factory, tmp_path):
    with HttpReceiver(lambda path, n: ("status", 503) if n <= 2 else ("status", 200)) as http:
        routes = tmp_path / "routes.yaml"
        receiver = {
            "name": "flaky",
            "webhook": {"url": {"env": "FLAKY_URL"}},
            "retry": {"max_attempts": 4, "initial_backoff_seconds": 0.2, "max_backoff_seconds": 1},
        }
        routes.write_text(json.dumps({"receivers": [receiver], "route": {"receiver": "flaky"}}))
        s = dispatcher_settings(settings).model_copy(update={"routes_file": routes})
        worker_factory(s, "dispatcher", "dispatcher", {"FLAKY_URL": http.url("/flaky")}).start()
        [trigger_id] = produce_triggers(kafka, s.topic("actions"), 1)
        wait_for(lambda: len(http.on("/flaky")) >= 3, 60, "three tries")

        def recorded():
            out = cli(s, "deliveries", "attempts", "--trigger", trigger_id, "--json")
            assert out.returncode == 0, out.stderr
            found = [json.loads(line) for line in out.stdout.splitlines()]
            return found if len(found) >= 3 else None

        attempts = wait_for(recorded, 30, "the attempt records")
    assert [(a["attempt"], a["outcome"], a["detail"]) for a in attempts] == [
        (1, "retry", "HTTP 503: answer"),
        (2, "retry", "HTTP 503: answer"),
        (3, "delivered", "HTTP 200: answer"),
    ]
    assert all(a["receiver"] == "flaky" and a["latency_seconds"] > 0 for a in attempts)
    assert attempts[0]["next_attempt_at"] and attempts[1]["next_attempt_at"] and attempts[2]["next_attempt_at"] is None
    due, came = (datetime.fromisoformat(attempts[i][k]) for i, k in ((0, "next_attempt_at"), (1, "at")))
    assert abs((came - due).total_seconds()) < 0.1  # the second came when the first said it would
    shown = cli(s, "deliveries", "attempts", "--receiver", "flaky")
    assert "flaky: 1 delivered, 2 retried, 0 given up" in shown.stdout, shown.stdout + shown.stderr
    assert f"{trigger_id} attempt 2: retry (http_5xx" in shown.stdout

    process, api = start_api(api_settings(s), tmp_path / "api.log", "operate")
    try:
        answered = api.call("GET", f"/v1/deliveries/attempts?trigger_id={trigger_id}")
    finally:
        process.stop()
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert [a["attempt"] for a in body["items"]] == [1, 2, 3] and body["total"] == 3
    assert body["health"] == {"flaky": {"delivered": 1, "retried": 2, "given_up": 0}}
