"""The health watch (``streams.kafka.health``): bounded waits, the loop's
heartbeat, readiness checks, and the probes served over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from devtools.processes import free_port
from streams.kafka.exits import EXIT_STALLED
from streams.kafka.health import Health
from streams.metrics import Metrics


class Exited(Exception):
    pass


def health(loop_timeout: float = 30.0) -> tuple[Health, list[int]]:
    codes: list[int] = []

    def exit(code: int) -> None:
        codes.append(code)
        raise Exited(code)

    return Health(Metrics(), loop_timeout, exit=exit), codes


def test_a_wait_within_its_bound_passes_and_one_past_it_fails_the_process(caplog):
    h, codes = health()
    with h.bounded("flush", 10.0, "acks"):
        h.watch_once()
    assert codes == []
    with h.bounded("commit", 0.05, "an offset commit"):
        time.sleep(0.1)
        with pytest.raises(Exited):
            h.watch_once()
    assert codes == [EXIT_STALLED]
    assert "commit: still waiting after" in caplog.text and "an offset commit" in caplog.text
    assert 'cdp_triggers_stalls_total{operation="commit"} 1.0' in _metrics(h)


def test_a_loop_that_stops_beating_fails_livez_then_the_process():
    h, codes = health(loop_timeout=0.05)
    assert h.live()[0]  # never beat: start-up is not judged
    h.beat()
    assert h.live()[0]
    time.sleep(0.1)
    ok, body = h.live()
    assert not ok and body["status"] == "stalled" and "has not turned" in body["reason"]
    with pytest.raises(Exited):
        h.watch_once()
    assert codes == [EXIT_STALLED]
    ok, body = h.live()  # until the process is gone: failed, with how long the loop has not turned
    assert not ok and body["status"] == "failed" and body["heartbeat_age_seconds"] >= 0.1


def test_readiness_names_each_failing_check():
    h, _ = health()
    flag = {"rebalancing": True}
    h.set_check("loading", "loading: subscriptions")
    h.add_check("rebalance", lambda: "a rebalance is under way" if flag["rebalancing"] else None)
    ok, body = h.ready()
    assert not ok and body["checks"] == {"loading": "loading: subscriptions", "rebalance": "a rebalance is under way"}
    h.set_check("loading", None)
    flag["rebalancing"] = False
    assert h.ready() == (True, {"status": "ready"})
    assert "cdp_triggers_ready 1.0" in _metrics(h)


def test_a_group_wide_check_gates_only_the_first_readiness_and_is_then_a_note():
    h, _ = health()
    flag = {"rebalancing": True, "stuck": None}
    h.add_check("rebalance", lambda: "a rebalance is under way" if flag["rebalancing"] else None, until_ready=True)
    h.add_check("commits", lambda: flag["stuck"])
    assert h.ready() == (False, {"status": "not ready", "checks": {"rebalance": "a rebalance is under way"}})
    flag["rebalancing"] = False
    assert h.ready() == (True, {"status": "ready"})
    flag["rebalancing"] = True  # a later rebalance: every member has one at once
    assert h.ready() == (True, {"status": "ready", "notes": {"rebalance": "a rebalance is under way"}})
    flag["stuck"] = "commits stuck"  # a check about this pod alone still fails it
    assert h.ready() == (False, {"status": "not ready", "checks": {"commits": "commits stuck"}})


def test_the_probes_over_http_answer_from_a_thread_while_the_loop_is_blocked():
    h, _ = health(loop_timeout=0.2)
    port = free_port()
    h.serve("127.0.0.1", port)
    loop = asyncio.new_event_loop()
    try:
        loop.call_soon(h.beat)
        loop.run_until_complete(asyncio.sleep(0.05))
        assert _get(port, "/livez") == (200, "ok")
        h.set_check("loading", "loading: subscriptions")
        code, _ = _get(port, "/readyz")
        assert code == 503
        time.sleep(0.3)  # the loop does not run now: it is as good as wedged
        assert _get(port, "/livez")[0] == 503
        assert _get(port, "/metrics")[0] == 200
    finally:
        loop.close()
        h.close()


def _get(port: int, path: str) -> tuple[int, str | None]:
    """Status code and, for a probe, the body's status."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            code, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, body = e.code, e.read()
    return code, None if path == "/metrics" else json.loads(body).get("status")


def _metrics(h: Health) -> str:
    from prometheus_client import generate_latest

    return generate_latest(h._metrics.registry).decode()
