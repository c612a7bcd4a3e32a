"""No silent stalls: a worker whose broker stops answering says so and exits
within its bound (``CDP_KAFKA_TIMEOUT_SECONDS``), then recovers exactly once
restarted. The broker is a real one of this test's own, frozen with SIGSTOP
(its sockets stay open: nothing is refused, nothing answers, as with a hung
broker or a network partition that drops packets)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest

from devtools.processes import WorkerProcess
from streams.kafka.clients import ensure_topics
from streams.kafka.exits import EXIT_STALLED
from tests.support import scenario
from tests.support.kafka import Kafka
from tests.support.kafka import test_settings as settings_for
from tests.support.measured import measured
from tests.support.metrics import metrics_text, wait_for_metric
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

BOUND = 5.0


def test_a_broker_that_stops_answering_makes_the_worker_exit_within_its_bound_and_recover_exactly(own_broker, tmp_path):
    settings = settings_for(
        own_broker.bootstrap,
        tmp_path,
        partitions=2,
        stall_after_seconds=1e9,
        kafka_timeout_seconds=BOUND,
        continuity_check_interval_seconds=1.0,
    )
    asyncio.run(ensure_topics(settings))
    kafka = Kafka(own_broker.bootstrap)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    t = worker.topics
    history = scenario.build(seed=3, segments=8, values=60, sources=6, run_count=6)
    expected = scenario.expected_ids(history)
    inputs = history.inputs(t)
    first, rest = inputs[: len(inputs) // 2], inputs[len(inputs) // 2 :]
    kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
    try:
        worker.start()
        wait_for_metric(worker, f"cdp_triggers_subscriptions_active {len(history.subs)}.0", timeout=60)
        for topic, key, doc in first:
            kafka.produce(topic, key, doc)
        kafka.flush()
        wait_for(lambda: "cdp_triggers_input_events_total{" in metrics_text(worker), 30, "input being applied")

        broker_pid = own_broker.pid()
        assert broker_pid is not None
        os.kill(broker_pid, signal.SIGSTOP)
        frozen = time.monotonic()
        assert worker.proc is not None
        try:
            code = worker.proc.wait(BOUND + 20)
        except subprocess.TimeoutExpired:
            code = None
        exited_after = time.monotonic() - frozen
        os.kill(broker_pid, signal.SIGCONT)
        assert code == EXIT_STALLED, f"the worker did not exit on its own (code {code}):\n{worker.log()[-3000:]}"
        said = worker.log()
        assert "exiting with code 3" in said and "still waiting after" in said, said[-3000:]

        worker.start()  # its supervisor restarts it
        for topic, key, doc in rest:
            kafka.produce(topic, key, doc)
        kafka.flush()
        seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=120)
        topics = [t.segments, t.measures, t.datasources, t.runs]
        settled, lag = scenario.wait_for_zero_lag(own_broker.bootstrap, settings.app_id, topics, timeout=90)
    finally:
        worker.stop()
    missing = set(expected) - set(seen)
    assert not missing and not set(seen) - set(expected), (
        f"{len(missing)} lost, {len(set(seen) - set(expected))} invented"
    )
    assert all(all(d == docs[0] for d in docs) for docs in seen.values()), "an id with two payloads"
    assert settled != float("inf"), f"group lag stuck: { {tp: n for tp, n in lag.items() if n} }"
    measured(
        "stall-broker-frozen",
        f"the broker frozen with SIGSTOP mid-stream: the worker exited {exited_after:.1f} s after, with a bound of "
        f"{BOUND:g} s; after SIGCONT and a restart all {len(expected)} triggers were exact (none lost, none "
        "invented), lag 0",
        exited_after_s=round(exited_after, 1),
        bound_s=BOUND,
        triggers=len(expected),
    )


def test_readyz_fails_until_the_worker_has_loaded_and_joined_and_livez_answers_throughout(settings, worker_factory):
    """A real worker on the real broker, probed while it starts: not ready while it loads its subscriptions and
    joins its group, then ready; alive all along."""
    import json
    import threading
    import urllib.error
    import urllib.request

    def probe(path: str) -> tuple[int, dict] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}{path}", timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except OSError:
            return None  # not listening yet

    worker = worker_factory(settings)
    starting = threading.Thread(target=worker.start)
    starting.start()
    ready, live = [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not ready or ready[-1][0] != 200):
        answer = probe("/readyz")
        if answer is not None:
            ready.append(answer)
            live.append(probe("/livez"))
        time.sleep(0.05)
    starting.join()
    assert ready and ready[0][0] == 503 and ready[0][1]["status"] == "not ready", ready[:3]
    assert set(ready[0][1]["checks"]) & {"loading", "started"}, ready[0]
    assert ready[-1] == (200, {"status": "ready"}), ready[-3:]
    assert all(code == 200 for code, _ in filter(None, live)), live
    failing = sorted({check for _, body in ready for check in body.get("checks", {})})
    print(f"\n/readyz: {sum(code == 503 for code, _ in ready)} answers 503 ({failing}), then 200")


def test_a_worker_whose_event_loop_wedges_fails_livez_and_exits_within_its_bound(settings, worker_factory):
    """The test-only fault switch blocks a running worker's loop for good; its watchdog thread, not the loop,
    notices: /livez stops answering ok and the worker exits with code 3 within the loop timeout, naming the
    cause."""
    import json
    import urllib.error
    import urllib.request

    loop_timeout, block_after = 3.0, 10.0
    worker = worker_factory(
        settings.model_copy(
            update={"loop_timeout_seconds": loop_timeout, "fault_block_loop_after_seconds": block_after}
        )
    )
    worker.start()
    assert worker.proc is not None
    wait_for_metric(worker, "cdp_triggers_ready 1.0", timeout=block_after)
    answers: list[tuple[float, int, dict]] = []  # (when, status, body)
    while worker.proc.poll() is None and len(answers) < 5000:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}/livez", timeout=2) as r:
                answers.append((time.monotonic(), r.status, json.loads(r.read())))
        except urllib.error.HTTPError as e:
            answers.append((time.monotonic(), e.code, json.loads(e.read())))
        except OSError:
            pass  # the process has exited
        time.sleep(0.02)
    gone = time.monotonic()
    code = worker.proc.wait(30)
    log = worker.log()
    assert code == EXIT_STALLED, log[-3000:]
    blocked = log.index("blocking the event loop for good")
    assert "the event loop has not turned for" in log[blocked:], log[blocked:][:3000]
    assert any(status == 200 for _, status, _ in answers), "/livez never answered 200 before the fault"
    # When the loop stopped: each answer carries the heartbeat's age, answered from the watchdog's own thread.
    # (A "failed" answer comes from the moment the watchdog has failed the process until it is gone.)
    stopped = min(at - body["heartbeat_age_seconds"] for at, _, body in answers if body["heartbeat_age_seconds"] > 1.5)
    exited_after = gone - stopped
    assert exited_after <= loop_timeout + 2, f"exited {exited_after:.1f} s after the loop stopped"
    # Never "ok" past the bound: then 503 "stalled", or no process at all (the watchdog exits at the same bound).
    assert all(body["heartbeat_age_seconds"] < loop_timeout for _, status, body in answers if status == 200)
    assert all(body["status"] in ("stalled", "failed") for _, status, body in answers if status == 503)
    measured(
        "loop-wedged",
        f"a worker's event loop blocked for good: /livez stopped answering ok, and the worker exited with code 3 "
        f"{exited_after:.1f} s after the loop stopped (bound {loop_timeout:g} s)",
        exited_after_s=round(exited_after, 1),
        bound_s=loop_timeout,
    )
