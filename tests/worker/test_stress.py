"""Stress: the three-worker kill scenario with malformed input, many times over
(``STRESS_RUNS``, default 20), to catch a rare hang: a worker that applied its
input but whose committed offsets stop. Not in CI (marker ``stress``); ``./dev
chaos`` runs it.

Each run: 3 workers on 4 partitions, about 2,400 change events and 300
malformed messages of 18 kinds, 8 SIGKILLs at random moments while the input
streams in. A run passes when every expected trigger is published, every
malformed message is dead-lettered and the group's lag returns to 0. When the
lag does not return to 0, the run takes each worker's stacks with py-spy (all
threads), asks each worker for its threads and asyncio tasks (SIGUSR1:
Faust's worker logs their stacks), times a SIGTERM, and keeps all of it under
``STRESS_ARTIFACTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devtools.processes import WorkerProcess
from streams.kafka.clients import ensure_topics
from tests.support import scenario
from tests.support.kafka import Kafka, group_of_workers
from tests.support.kafka import test_settings as settings_for
from tests.support.measured import measured
from tests.support.metrics import wait_for_metric

pytestmark = pytest.mark.stress

WORKERS = 3
KILLS = 8
MALFORMED = 300


def _diagnose(workers: list[WorkerProcess], folder: Path) -> dict:
    """Stacks of every running worker, then how long each takes to stop on SIGTERM."""
    folder.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy")
    found: dict = {}
    for i, w in enumerate(workers):
        if not w.running:
            continue
        assert w.proc is not None
        if py_spy:
            dump = subprocess.run(
                [py_spy, "dump", "--pid", str(w.proc.pid)], capture_output=True, text=True, timeout=60
            )
            (folder / f"worker-{i}.py-spy.txt").write_text(dump.stdout + dump.stderr)
        os.kill(w.proc.pid, signal.SIGUSR1)  # Faust's worker (mode) logs every thread's and task's stack
        time.sleep(1.0)
    for i, w in enumerate(workers):
        began = time.monotonic()
        w.stop(timeout=20)
        found[f"worker-{i}"] = {"sigterm_exit_s": round(time.monotonic() - began, 1)}
        shutil.copy(w.log_path, folder / w.log_path.name)
    return found


def _start_all(workers: list[WorkerProcess]) -> None:
    """Start the workers side by side, as a supervisor would; the first failure is raised."""
    errors: list[BaseException] = []

    def start(w: WorkerProcess) -> None:
        try:
            w.start()
        except BaseException as exc:
            errors.append(exc)

    starters = [threading.Thread(target=start, args=(w,)) for w in workers]
    for s in starters:
        s.start()
    for s in starters:
        s.join()
    if errors:
        raise errors[0]


def _one_run(broker, tmp: Path, seed: int, artifacts: Path) -> dict:
    # The production defaults of commit interval and session timeout (the suite's are shorter), as a user runs it.
    base = settings_for(
        broker.bootstrap,
        tmp,
        partitions=4,
        stall_after_seconds=1e9,
        commit_interval_seconds=1.0,
        session_timeout_seconds=10.0,
        continuity_check_interval_seconds=2.0,
    )
    asyncio.run(ensure_topics(base))
    tmp.mkdir(parents=True, exist_ok=True)
    kafka = Kafka(broker.bootstrap)
    workers = group_of_workers(base, WORKERS, tmp)
    t = workers[0].topics
    history = scenario.build(seed=seed, segments=16, values=120, sources=30, run_count=40)
    expected = scenario.expected_ids(history)
    kinds = scenario.malformed_kinds()
    bad = [kinds[i % len(kinds)] for i in range(MALFORMED)]
    inputs: list[tuple[str, str, Any]] = list(history.inputs(t))
    rng = random.Random(seed)
    topics = [t.segments, t.measures, t.datasources, t.runs]
    spots = sorted(rng.sample(range(len(inputs)), len(bad)), reverse=True)
    for n, (spot, value) in enumerate(zip(spots, bad, strict=True)):
        inputs.insert(spot, (topics[n % len(topics)], f"bad-{n}", value))
    kafka.produce_all(t.subscriptions, [(s["subscription_id"], s) for s in history.subs])
    result: dict = {"seed": seed, "events": len(inputs)}
    try:
        _start_all(workers)
        for w in workers:
            wait_for_metric(w, f"cdp_triggers_subscriptions_active {len(history.subs)}.0", timeout=60)
        producer, _ = scenario.play(kafka, inputs, batch=50, pause=0.4)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 3.5))
            victim = rng.choice(workers)
            victim.kill()
            time.sleep(rng.uniform(0, 1.5))
            victim.start()
            for w in workers:  # a supervisor restarts what died on its own
                if not w.running:
                    result["crashes"] = result.get("crashes", 0) + 1
                    w.start()
        producer.join()
        seen = scenario.triggers_by_id(kafka, t.actions, expected, timeout=120)
        settled, lag = scenario.wait_for_zero_lag(broker.bootstrap, base.app_id, topics, timeout=90)
        dead = {json.loads(m.value())["id"] for m in kafka.read(t.dead_letter, idle=3.0, timeout=60)}
        result.update(
            missing=len(set(expected) - set(seen)),
            invented=len(set(seen) - set(expected)),
            dead_letters=len(dead),
            lag_zero_after_s=None if settled == float("inf") else round(settled, 1),
            stuck={f"{tp[0]}[{tp[1]}]": n for tp, n in lag.items() if n} if settled == float("inf") else {},
            exits=sum(w.log().count("exiting with code") for w in workers),
        )
        if result["stuck"]:
            result["diagnosis"] = _diagnose(workers, artifacts / f"run-{seed}")
    finally:
        for w in workers:
            w.stop()
    result["ok"] = (
        not result.get("missing")
        and not result.get("invented")
        and not result["stuck"]
        and result.get("dead_letters") == MALFORMED
    )
    return result


def test_three_workers_with_kills_and_malformed_input_never_stop_committing(broker, tmp_path):
    runs = int(os.environ.get("STRESS_RUNS", "20"))
    artifacts = Path(os.environ.get("STRESS_ARTIFACTS", tmp_path / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    results = []
    for n in range(runs):
        began = time.monotonic()
        result = _one_run(broker, tmp_path / f"run-{n}", seed=1000 + n, artifacts=artifacts)
        result["seconds"] = round(time.monotonic() - began)
        results.append(result)
        print(f"stress run {n + 1}/{runs}: {json.dumps(result)}", flush=True)
        (artifacts / "results.jsonl").open("a").write(json.dumps(result) + "\n")
    failed = [r for r in results if not r["ok"]]
    print(f"\nstress: artifacts in {artifacts}")
    lags = [r["lag_zero_after_s"] for r in results if r.get("lag_zero_after_s") is not None]
    measured(
        f"stress-{runs}-runs",
        f"{runs} runs of {WORKERS} workers on 4 partitions, each with about {results[0]['events']:,} messages "
        f"({MALFORMED} malformed, of {len(scenario.malformed_kinds())} kinds) and {KILLS} SIGKILLs: "
        f"{runs - len(failed)} of {runs} runs exact, lag 0 within {max(lags, default=0):.1f} s of the last input, "
        f"{sum(r.get('exits', 0) for r in results)} processes exiting on a bound",
        runs=runs,
        exact=runs - len(failed),
    )
    assert not failed, f"{len(failed)} of {runs} runs failed: {failed}"
