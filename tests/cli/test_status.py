"""`cdp-triggers status` on the real broker, worker, dispatcher and receiver: healthy, it shows the groups with
their members and partitions, the registries and the hour's triggers, dead letters and deliveries, and exits 0;
with the worker frozen (SIGSTOP) while events keep coming, the lag grows, nothing commits, its probe does not
answer, and it exits 1; thawed, it is back to 0."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.cli.test_cli import cli
from tests.support import builders as b
from tests.support.dispatcher import dispatcher_settings, routes_file
from tests.support.metrics import wait_for_metric
from tests.support.receivers import HttpReceiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def _status(settings, *args: str) -> tuple[int, dict]:
    done = cli(settings, "status", "--json", "--sample", "2", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_status_is_0_when_healthy_and_1_while_a_worker_is_stuck_and_its_lag_grows(
    kafka, settings, worker_factory, tmp_path
):
    with HttpReceiver() as http:
        _, env = routes_file(tmp_path, http, None)
        worker = worker_factory(settings).start()
        dispatcher = worker_factory(dispatcher_settings(settings), "dispatcher", "dispatcher", env).start()
        t = worker.topics
        kafka.produce_all(t.subscriptions, [("vip-1000", b.subscription("vip-1000", "segment", "vip", 1000))])
        wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")
        bad = b.segment("vip", 0, 5.0) | {"member_count": "many"}
        kafka.produce_all(
            t.segments, [("vip", b.segment("vip", 900, 0.0)), ("vip", bad), ("vip", b.segment("vip", 1200, 10.0))]
        )
        wait_for(lambda: http.on("/hook"), 60, "the delivery", dispatcher.log)
        probe = f"http://127.0.0.1:{settings.metrics_port}/readyz"

        code, healthy = wait_for(lambda: (r := _status(settings, "--probe", probe))[0] == 0 and r, 60, "status 0")
        assert healthy["ok"] and healthy["attention"] == []
        groups = {g["group"]: g for g in healthy["groups"]}
        assert groups[settings.app_id]["lag"] == 0 and len(groups[settings.app_id]["members"]) == 1
        assert any(p.startswith(t.segments) for p in groups[settings.app_id]["members"][0]["partitions"])
        assert len(groups[settings.dispatcher_app_id]["members"]) == 1
        assert healthy["registries"]["subscriptions"] == 1
        assert healthy["triggers_by_type"] == {"segment.threshold.crossed": 1}
        assert healthy["dead_letters_by_reason"] == {"schema": 1} and healthy["dead_letters_unreplayed"] == 1
        assert healthy["deliveries"]["hook"] == {"delivered": 1}
        assert healthy["oldest_undelivered"] is None and healthy["probes"][0]["ready"]
        burst, report = _status(settings, "--dead-letter-burst", "0")
        assert burst == 1 and "1 dead letters in the last hour not replayed" in report["attention"][0]

        os.kill(worker.process.pid, signal.SIGSTOP)
        try:
            for i in range(30):
                kafka.produce(t.segments, f"s{i}", b.segment(f"s{i}", i, 20.0 + i))
            kafka.flush()
            stuck, report = _status(settings, "--probe", probe)
            human = cli(settings, "status", "--sample", "1")
        finally:
            os.kill(worker.process.pid, signal.SIGCONT)
        assert stuck == 1 and not report["ok"], report
        assert any(a.startswith(f"{settings.app_id}: ") for a in report["attention"]), report["attention"]
        assert any(a.startswith(f"{probe}: not ready") for a in report["attention"]), report["attention"]
        assert {g["group"]: g["lag"] for g in report["groups"]}[settings.app_id] == 30
        assert human.returncode == 1 and "needs attention:" in human.stdout and "lag 30" in human.stdout, human.stdout

        wait_for(lambda: _status(settings, "--probe", probe)[0] == 0, 90, "status 0 after the thaw", worker.log)
