"""The chart's pods, run here: each container's command, arguments and environment are read out of ``helm template``
and started as a local process against the dev broker, so the chart's configuration is what runs. The chart's own
probe definitions decide when each pod has started and is ready, and three workers are restarted one by one with
SIGTERM, in the order a StatefulSet's rolling update uses, while input streams in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.processes import free_port
from streams.settings import Settings
from streams.topics import Topics
from tests.support import scenario
from tests.support.helm import Pod, one, pod, render
from tests.support.kafka import Kafka, new_tag
from tests.support.measured import measured
from tests.support.receivers import HttpReceiver

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

WORKERS = 3


class PodProcess:
    def __init__(self, spec: Pod, log: Path) -> None:
        self.spec, self.log_path = spec, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped_in: list[float] = []

    def start(self) -> PodProcess:
        bin_dir = Path(sys.executable).parent  # the image's PATH holds the package's console scripts
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(self.log_path.parent), **self.spec.env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.spec.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def probe(self, kind: str) -> tuple[bool, str]:
        """One attempt of the chart's ``kind`` probe, as the kubelet makes it."""
        definition = self.spec.probes[kind]
        get = definition["httpGet"]
        url = f"http://127.0.0.1:{self.spec.ports[get['port']]}{get['path']}"
        try:
            with urllib.request.urlopen(url, timeout=definition["timeoutSeconds"]) as answer:
                return 200 <= answer.status < 400, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return False, exc.read().decode()
        except OSError as exc:
            return False, str(exc)

    def wait_started_and_ready(self, ready_within: float = 120) -> float:
        """The startup probe must pass within its budget (period x failure threshold); then readiness, and
        liveness throughout. Returns the seconds until ready."""
        began = time.monotonic()
        startup = self.spec.probes["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        while not self.probe("startupProbe")[0]:
            assert self.proc is not None and self.proc.poll() is None, f"{self.spec.name} exited:\n{self.log()[-3000:]}"
            assert time.monotonic() - began < budget, f"{self.spec.name}: startup probe failed for {budget} s"
            time.sleep(0.5)
        while True:
            ok, body = self.probe("readinessProbe")
            if ok:
                break
            alive, why = self.probe("livenessProbe")
            assert alive, f"{self.spec.name}: liveness failed while not ready: {why}"
            assert time.monotonic() - began < ready_within, f"{self.spec.name} not ready: {body}\n{self.log()[-2000:]}"
            time.sleep(0.5)
        return time.monotonic() - began

    def terminate(self, grace: float) -> int:
        """SIGTERM, then SIGKILL after the pod's grace period, as the kubelet does; the exit code."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.stopped_in.append(time.monotonic() - began)
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _values(bootstrap: str, tag: str, hook_url: str) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap": bootstrap, "partitions": 4, "replicationFactor": 1},
        "worker": {"replicas": WORKERS},
        "hookSigningKey": {"value": "chart-test-signing-key-" + "k" * 20},
        "dispatcher": {
            "routes": {
                "receivers": [
                    {
                        "name": "automation",
                        "webhook": {"url": {"file": "/etc/cdp-triggers/receivers/automation-url"}},
                        "retry": {"max_attempts": 5, "initial_backoff_seconds": 0.2, "timeout_seconds": 5},
                    }
                ],
                "route": {"receiver": "automation"},
            },
            "secrets": {"values": {"automation-url": hook_url}},
        },
        # This test's own topics and groups on the shared broker; old event times: no run is stalled by them.
        "config": {
            "CDP_TOPIC_PREFIX": f"t-{tag}.",
            "CDP_APP_ID": f"test-{tag}",
            "CDP_STALL_AFTER_SECONDS": "1000000000",
        },
    }


def _pods(docs: list[dict[str, Any]], root: Path) -> dict[str, Pod]:
    pods = {}
    worker = one(docs, "StatefulSet", "worker")
    for i in range(worker["spec"]["replicas"]):
        name = f"{worker['metadata']['name']}-{i}"
        pods[name] = pod(docs, worker, name, root, {"metrics": free_port()})
    dispatcher = one(docs, "Deployment", "dispatcher")
    pods["dispatcher"] = pod(
        docs, dispatcher, f"{dispatcher['metadata']['name']}-7d9c5-x2k4q", root, {"metrics": free_port()}
    )
    api = one(docs, "Deployment", "api")
    pods["api"] = pod(docs, api, f"{api['metadata']['name']}-5f6b7-q9w8e", root, {"http": free_port()})
    return pods


def _metric(process: PodProcess, line: str, timeout: float = 60) -> None:
    port = process.spec.ports["metrics"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{process.spec.name}: {line!r} not seen")


def test_the_charts_pods_run_pass_their_probes_and_a_rolling_sigterm_restart_is_exact(broker, tmp_path):
    tag = new_tag()
    kafka = Kafka(broker.bootstrap)
    with HttpReceiver() as http:
        values = tmp_path / "values.yaml"
        values.write_text(yaml.safe_dump(_values(broker.bootstrap, tag, http.url("/automation"))))
        docs = render([values])
        grace = {
            c: one(docs, k, c)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            for k, c in [("StatefulSet", "worker"), ("Deployment", "dispatcher"), ("Deployment", "api")]
        }
        specs = _pods(docs, tmp_path / "pods")
        job = pod(docs, one(docs, "Job", "topics"), "rel-cdp-triggers-topics-abcde", tmp_path / "pods", {})
        created = subprocess.run(job.command, env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", **job.env},
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert created.returncode == 0 and "created" in created.stdout, created.stderr
        settings = Settings(topic_prefix=f"t-{tag}.", app_id=f"test-{tag}", partitions=4)
        t = Topics(settings)
        history = scenario.build(seed=31)
        expected = scenario.expected_ids(history)
        kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
        processes = {name: PodProcess(spec, tmp_path / f"{name}.log") for name, spec in specs.items()}
        try:
            for p in processes.values():
                p.start()
            ready_in = {name: p.wait_started_and_ready() for name, p in processes.items()}
            workers = [p for name, p in processes.items() if "worker" in name]
            for w in workers:
                _metric(w, f"cdp_triggers_subscriptions_active {len(history.subs)}.0")
            producer, done = scenario.play(kafka, history.inputs(t), batch=50, pause=0.3)
            # A StatefulSet's rolling update: the highest ordinal first, each pod ready before the next one.
            codes = []
            for w in reversed(workers):
                time.sleep(2)
                codes.append(w.terminate(grace["worker"]))
                w.start()
                w.wait_started_and_ready()
            dispatcher = processes["dispatcher"]
            codes.append(dispatcher.terminate(grace["dispatcher"]))
            dispatcher.start()
            dispatcher.wait_started_and_ready()
            streaming = not done.is_set()
            producer.join()
            seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=120)
            input_topics = [t.segments, t.measures, t.datasources, t.runs]
            settled, lag = scenario.wait_for_zero_lag(broker.bootstrap, settings.app_id, input_topics, timeout=90)
            deadline = time.monotonic() + 90
            while (
                set(expected) - {r.headers["webhook-id"] for r in http.on("/automation")}
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)  # fmt: skip
            deliveries = Counter(r.headers["webhook-id"] for r in http.on("/automation"))
            api_code = processes["api"].terminate(grace["api"])
        finally:
            for p in processes.values():
                p.kill()
    assert codes == [0] * (WORKERS + 1), codes
    # uvicorn stops gracefully on SIGTERM, then raises the signal again so that the exit says what ended it
    assert api_code in (0, -signal.SIGTERM) and "Application shutdown complete" in processes["api"].log(), api_code
    assert streaming, "the restarts ended after the input: make the stream longer"
    missing = set(expected) - set(seen)
    assert not missing and not set(seen) - set(expected), (
        f"{len(missing)} lost, {len(set(seen) - set(expected))} invented"
    )
    records = sum(len(docs) for docs in seen.values())
    assert records == len(seen), f"{records - len(seen)} triggers repeated after SIGTERMs"
    assert settled != float("inf"), f"group lag stuck: { {tp: n for tp, n in lag.items() if n} }"
    assert set(deliveries) == set(expected), f"{len(set(expected) - set(deliveries))} triggers not delivered"
    assert max(deliveries.values()) == 1, f"{sum(n > 1 for n in deliveries.values())} deliveries repeated"
    stops = [s for p in processes.values() for s in p.stopped_in]
    measured(
        "chart-rolling-restart",
        f"the chart's pods run from helm template: {WORKERS} workers restarted one by one with SIGTERM while "
        f"{len(history.inputs(t)):,} events streamed in, then the dispatcher: {len(seen)} of {len(expected)} triggers, "
        f"{records - len(seen)} repeats, {len(deliveries)} delivered once each, lag 0; each stop took at most "
        f"{max(stops):.1f} s (grace {min(grace.values())} s); ready {max(ready_in.values()):.1f} s after start",
        triggers=len(expected),
        repeats=records - len(seen),
        slowest_stop_s=round(max(stops), 1),
        slowest_ready_s=round(max(ready_in.values()), 1),
    )
    assert max(stops) < Settings.model_fields["shutdown_timeout_seconds"].default
