"""Throughput, latency, memory and recovery of the worker on the real local
broker, each side by side with the plain-aiokafka baseline in the same run.

    ./dev bench            # the full run (1,000,000 events; about 25 minutes here)
    ./dev bench --quick    # a smoke check, under two minutes

Prints a table and writes the figures to benchmarks/results/<mode>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from devtools.processes import WorkerProcess, free_port
from streams.kafka.clients import ensure_topics
from streams.settings import Settings, load_settings
from streams.topics import Topics

from . import baseline

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Plan:
    events: int
    entities: int
    subscriptions: int
    latency_seconds: float
    memory_entities: int
    memory_subscriptions: int
    partitions: int = 4
    rate_fraction: float = 0.2
    workers: tuple[int, ...] = (1, 2)
    other_share: float = 0.1  # data-source refreshes and refresh-run progress, half each; the rest are values


PLANS = {
    "full": Plan(1_000_000, 100_000, 200_000, 30, 1_000_000, 1_000_000),
    "quick": Plan(40_000, 10_000, 20_000, 8, 0, 0, workers=(1,)),
}


@dataclass
class Results:
    mode: str
    plan: dict
    machine: dict = field(default_factory=dict)
    throughput: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)
    recovery: dict = field(default_factory=dict)


# -- data ------------------------------------------------------------------


def event_time(start: datetime, us: int) -> str:
    return (start + timedelta(microseconds=us)).isoformat()


def generate(plan: Plan, start: datetime, seed: int = 1):
    """(topic suffix, key, document) for the preload, event times from ``start``
    (the run's start: the worker's stall and retention clocks then measure the
    same thing whatever the day): segment and measure updates over ``entities``
    (half each, values in a slow wave so each subscription crosses about once),
    and ``other_share`` (10% by default) of data-source refreshes and refresh-run
    progress, half each."""
    doc: dict[str, Any]
    rng = random.Random(seed)
    _iso = lambda us: event_time(start, us)  # noqa: E731
    half = plan.entities // 2
    values_share = 1 - plan.other_share
    steps = max(plan.events * values_share / max(plan.entities, 1), 1)
    count = [0] * plan.entities
    runs = 0
    for i in range(plan.events):
        r = rng.random()
        if r < values_share:
            e = rng.randrange(plan.entities)
            k, count[e] = count[e], count[e] + 1
            wave = 1000 * (1 + 0.2 * math.sin(math.pi * k / steps - math.pi / 2 + (e % 7) / 7))
            if e < half:
                yield (
                    "segment-changes",
                    f"seg-{e}",
                    {
                        "event_id": f"b{i}",
                        "event_time": _iso(i),
                        "segment_id": f"seg-{e}",
                        "segment_name": "S",
                        "member_count": int(wave),
                    },
                )
            else:
                yield (
                    "measure-changes",
                    f"mea-{e}",
                    {
                        "event_id": f"b{i}",
                        "event_time": _iso(i),
                        "measure_id": f"mea-{e}",
                        "measure_name": "M",
                        "value": round(wave, 2),
                    },
                )
        elif r < 1 - plan.other_share / 2:
            ds = f"ds-{rng.randrange(1000)}"
            status = rng.choice(["started", "succeeded", "failed"])
            doc = {
                "event_id": f"b{i}",
                "event_time": _iso(i),
                "data_source_id": ds,
                "data_source_name": "D",
                "refresh_run_id": f"r{i // 3}",
                "status": status,
            }
            if status == "failed":
                doc["failure"] = {"code": "E", "message": "m", "will_retry": rng.random() < 0.5}
            yield "datasource-changes", ds, doc
        else:
            run = f"run-{runs // 13}"
            step = runs % 13
            runs += 1
            tasks = [
                {"kind": "data_source", "name": "a"},
                {"kind": "unification", "name": "map"},
                {"kind": "unification", "name": "match"},
                {"kind": "unification", "name": "merge"},
                {"kind": "segment", "name": "s"},
                {"kind": "measure", "name": "m"},
            ]
            if step == 0:
                doc = {
                    "event_id": f"b{i}",
                    "event_time": _iso(i),
                    "kind": "run_started",
                    "run_id": run,
                    "trigger": "scheduled",
                    "tasks": tasks,
                }
            else:
                doc = {
                    "event_id": f"b{i}",
                    "event_time": _iso(i),
                    "kind": "task_progress",
                    "run_id": run,
                    "task": tasks[(step - 1) // 2],
                    "status": "started" if step % 2 else "succeeded",
                }
            yield "refresh-runs", run, doc


def subscriptions(entities: int, count: int):
    half = entities // 2
    for j in range(count):
        e = j % entities
        kind, entity = ("segment", f"seg-{e}") if e < half else ("measure", f"mea-{e}")
        threshold = 1000 + 100 * (j // entities % 3)
        yield (
            f"sub-{j}",
            {
                "subscription_id": f"sub-{j}",
                "entity_kind": kind,
                "entity_id": entity,
                "threshold": threshold,
                "recovery_threshold": threshold - 100,
                "owner": "o@example.com",
            },
        )


def produce(bootstrap: str, records, report: str) -> int:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1_000_000,
            "partitioner": "murmur2_random",
            "compression.type": "lz4",
            "acks": "all",
        }
    )
    n = 0
    began = time.perf_counter()
    for topic, key, doc in records:
        while True:
            try:
                producer.produce(topic, orjson.dumps(doc), key.encode())
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0
    print(f"  preloaded {n:,} {report} in {time.perf_counter() - began:.1f} s", flush=True)
    return n


def preload(settings: Settings, plan: Plan) -> list[str]:
    """The run's topics, its subscriptions (and the latency phase's) and its change events: the input topics."""
    topics = Topics(settings)
    asyncio.run(ensure_topics(settings))
    subs = itertools.chain(subscriptions(plan.entities, plan.subscriptions), latency_subscriptions())
    produce(settings.kafka_bootstrap, ((topics.subscriptions, k, v) for k, v in subs), "subscriptions")
    produce(
        settings.kafka_bootstrap,
        ((settings.topic_prefix + t, k, v) for t, k, v in generate(plan, datetime.now(UTC))),
        "change events",
    )
    return [topics.datasources, topics.segments, topics.measures, topics.runs]


# -- measuring ---------------------------------------------------------------


def end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        out = {}
        for topic in topics:
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                out[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        return out
    finally:
        consumer.close()


def group_lag(admin: AdminClient, group: str, ends: dict[tuple[str, int], int]) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions

    request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in ends])
    result = admin.list_consumer_group_offsets([request])[group].result()
    committed = {(tp.topic, tp.partition): max(tp.offset, 0) for tp in result.topic_partitions}
    return sum(end - committed.get(tp, 0) for tp, end in ends.items())


@dataclass
class Progress:
    """When a consumer group first committed, how far it was then, and when its lag reached 0."""

    first_commit: float  # time.monotonic()
    lag_at_first_commit: int
    done: float
    steady_cpu_seconds: float  # of the processes followed (every thread: librdkafka's too), first commit to done

    def figures(self, began: float, events: int) -> dict:
        steady = self.done - self.first_commit
        n = self.lag_at_first_commit
        return {
            "seconds": round(self.done - began, 2),
            "events_per_second": round(events / (self.done - began)),
            "startup_seconds": round(self.first_commit - began, 2),
            "steady_events_per_second": round(n / steady) if steady > 0 else None,
            # per core: what a user pays for, whatever the threads (the broker's CPU is not counted)
            "steady_cpu_us_per_event": round(1e6 * self.steady_cpu_seconds / n, 1) if n else None,
        }


def follow_lag(bootstrap: str, group: str, ends: dict, timeout: float, procs: list[subprocess.Popen]) -> Progress:
    """Sample the group's lag until 0. The steady rate counts from the first commit: start-up (joining,
    recovery, loading subscriptions, the first fetch) is reported apart."""
    total = sum(ends.values())
    # One client for all samples: a new one every 0.1 s (threads, connection, teardown) took CPU from what
    # it measured, on the same two cores.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    first: tuple[float, int, float] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        lag = group_lag(admin, group, ends)
        now = time.monotonic()
        if first is None and lag < total:
            first = (now, lag, sum(cpu_seconds(p.pid) for p in procs))
        if lag == 0:
            assert first is not None
            return Progress(first[0], first[1], now, sum(cpu_seconds(p.pid) for p in procs) - first[2])
        time.sleep(0.1)
    raise RuntimeError(f"lag not zero after {timeout} s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fresh_settings(bootstrap: str, tmp: Path, partitions: int, tag: str) -> Settings:
    return Settings(
        kafka_bootstrap=bootstrap,
        app_id=f"bench-{tag}",
        topic_prefix=f"bench-{tag}.",
        partitions=partitions,
        data_dir=tmp / tag,
        metrics_port=free_port(),
        commit_interval_seconds=0.5,
        session_timeout_seconds=10,
    )


def start_workers(settings: Settings, n: int, tmp: Path) -> list[WorkerProcess]:
    workers = []
    for i in range(n):
        s = settings.model_copy(update={"instance_id": f"{settings.app_id}-w{i}", "metrics_port": free_port()})
        workers.append(WorkerProcess(s, tmp / f"{settings.app_id}-w{i}.log"))
    threads = [threading.Thread(target=w.start, kwargs={"timeout": 600}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return workers


def run_workers(
    settings: Settings, n: int, tmp: Path, inputs: list[str], events: int, profile: Path | None = None
) -> tuple[dict, list]:
    ends = end_offsets(settings.kafka_bootstrap, inputs)
    before = sum(end_offsets(settings.kafka_bootstrap, [Topics(settings).actions]).values())
    began = time.monotonic()
    workers = start_workers(settings, n, tmp)
    sampler = None
    if profile is not None:  # py-spy samples the worker (not its children) until told to stop
        profile.parent.mkdir(exist_ok=True)
        sampler = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(workers[0].process.pid),
                "--format",
                "speedscope",
                "--rate",
                "200",
                "--output",
                str(profile),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    try:
        progress = follow_lag(settings.kafka_bootstrap, settings.app_id, ends, 3600, [w.process for w in workers])
    finally:
        if sampler is not None:
            sampler.send_signal(2)
            sampler.wait(60)
    triggers = sum(end_offsets(settings.kafka_bootstrap, [Topics(settings).actions]).values()) - before
    return {"workers": n, "events": events, **progress.figures(began, events), "triggers": triggers}, workers


# -- latency -----------------------------------------------------------------


LATENCY_ENTITIES = [f"lat-{i}" for i in range(50)]
# The latency runs are repeated with the process under test stopped this long: a GC pause, a busy
# neighbour or a slow disk, after which it must return to live latency (it did not: faust_fixes).
STALL_SECONDS = 2.0
LATENCY_VARIANTS = (("", 0.0), ("_after_stall", STALL_SECONDS))  # (result key suffix, stall)


def latency_subscriptions():
    for e in LATENCY_ENTITIES:
        yield e, {"subscription_id": e, "entity_kind": "segment", "entity_id": e, "threshold": 100, "owner": "o@x.io"}


def latency_run(
    bootstrap: str,
    prefix: str,
    out_topic: str,
    rate: float,
    seconds: float,
    time_field,
    round_: int,
    pid: int,
    stall: float = 0.0,
) -> dict:
    """Send alternating low/high values for 50 entities with one subscription
    each at ``rate`` events/s; every high value crosses. The event time is the
    send time, so a trigger's time says when its cause was sent. Also the CPU
    time of ``pid``, the process under test, per event sent.

    ``stall``: that process is stopped (SIGSTOP) for this long after a third of
    the run; the figures are then of the triggers caused from 1 s after it
    went on to the end, which show whether it returns to live latency."""
    entities = LATENCY_ENTITIES
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "partitioner": "murmur2_random"})
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"lat-{uuid.uuid4().hex}",
            "auto.offset.reset": "latest",
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([out_topic])
    while not consumer.assignment():
        consumer.poll(0.1)
    wanted = set(entities)
    samples: list[tuple[float, float]] = []  # (cause time, latency)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            msg = consumer.poll(0.05)
            if msg is None or msg.error():
                continue
            doc = orjson.loads(msg.value() or b"null")
            entity, at = time_field(doc)
            if entity in wanted:
                caused = datetime.fromisoformat(at).timestamp()
                samples.append((caused, time.time() - caused))

    def stop_for_a_while() -> None:
        time.sleep(seconds / 3)
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(stall)
        finally:
            os.kill(pid, signal.SIGCONT)
            resumed.append(time.time())

    resumed: list[float] = []
    reader = threading.Thread(target=read)
    reader.start()
    if stall:
        threading.Thread(target=stop_for_a_while, daemon=True).start()
    cpu_before = cpu_seconds(pid)
    sent, began = 0, time.monotonic()
    while time.monotonic() - began < seconds:
        wait = began + sent / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        e = entities[sent % len(entities)]
        high = (sent // len(entities)) % 2 == 1
        doc = {
            "event_id": f"{e}-{round_}-{sent}",
            "event_time": datetime.now(UTC).isoformat(),
            "segment_id": e,
            "segment_name": "L",
            "member_count": 150 if high else 50,
        }
        producer.produce(f"{prefix}segment-changes", orjson.dumps(doc), e.encode())
        producer.poll(0)
        sent += 1
    producer.flush(30)
    time.sleep(3)
    cpu_us = round(1e6 * (cpu_seconds(pid) - cpu_before) / max(sent, 1))
    stop.set()
    reader.join()
    consumer.close()
    if stall:
        samples = [s for s in samples if s[0] >= resumed[0] + 1.0]
    latencies = sorted(latency for _, latency in samples)
    figures: dict[str, float] = {
        "rate": round(rate),
        "sent": sent,
        "triggers": len(latencies),
        "cpu_us_per_event": cpu_us,
    }
    if stall:
        figures["stall_seconds"] = stall
    if not latencies:
        return figures
    q = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)  # noqa: E731
    return {
        **figures,
        "p50_ms": q(0.5),
        "p95_ms": q(0.95),
        "p99_ms": q(0.99),
        "max_ms": round(latencies[-1] * 1000, 1),
        "mean_ms": round(statistics.mean(latencies) * 1000, 1),
    }


# -- the run -------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check under two minutes")
    parser.add_argument("--events", type=int)
    parser.add_argument("--entities", type=int)
    parser.add_argument("--subscriptions", type=int)
    parser.add_argument("--skip-memory", action="store_true", help="skip the 1M-entity memory phase")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the 1-worker throughput run with py-spy: results/<mode>-worker.speedscope.json",
    )
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    plan = PLANS[mode]
    for name in ("events", "entities", "subscriptions"):
        if getattr(args, name):
            setattr(plan, name, getattr(args, name))
    if args.skip_memory:
        plan.memory_entities = plan.memory_subscriptions = 0
    bootstrap = load_settings().kafka_bootstrap
    results = Results(mode, asdict(plan), machine={"cpus": os.cpu_count(), "python": sys.version.split()[0]})
    tmp = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    began = time.monotonic()
    tag = uuid.uuid4().hex[:8]
    settings = fresh_settings(bootstrap, tmp, plan.partitions, tag)
    topics = Topics(settings)
    print(
        f"benchmark ({mode}): {plan.events:,} events, {plan.entities:,} entities, {plan.subscriptions:,} subscriptions"
    )
    inputs = preload(settings, plan)

    print("  baseline (plain aiokafka loop) ...", flush=True)
    out_topic = f"{settings.topic_prefix}baseline-out"
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(out_topic, plan.partitions, 1)])[out_topic].result()
    n, seconds, crossings = asyncio.run(baseline.run(bootstrap, settings.topic_prefix, out_topic, follow=False))
    base = {"events": n, "seconds": round(seconds, 2), "events_per_second": round(n / seconds), "crossings": crossings}
    results.throughput["baseline"] = base
    print(f"    {base}", flush=True)

    for floor in ("bare", "uvloop", "table", "stock"):
        what = {
            "bare": "decode only",
            "uvloop": "decode only, on uvloop",
            "table": "decode + one table write",
            "stock": "decode only, Faust's own message hand-over",
        }[floor]
        print(f"  faust {floor} agent ({what}) ...", flush=True)
        figures = results.throughput[f"faust_{floor}"] = faust_floor(settings, tmp, inputs, plan.events, floor)
        figures["ratio_to_baseline"] = round(figures["events_per_second"] / base["events_per_second"], 3)
        print(f"    {figures}", flush=True)

    first_workers: tuple[Settings, list[WorkerProcess]] | None = None
    for count in plan.workers:
        group_settings = settings.model_copy(update={"app_id": f"bench-{tag}-{count}w"})
        print(f"  worker x{count} ...", flush=True)
        profile = (
            ROOT / "benchmarks" / "results" / f"{mode}-worker.speedscope.json" if args.profile and count == 1 else None
        )
        figures, workers = run_workers(group_settings, count, tmp, inputs, plan.events, profile)
        figures["ratio_to_baseline"] = round(figures["events_per_second"] / base["events_per_second"], 3)
        for floor in ("bare", "uvloop", "stock"):
            figures[f"ratio_to_faust_{floor}"] = round(
                figures["steady_events_per_second"] / results.throughput[f"faust_{floor}"]["steady_events_per_second"],
                3,
            )
        figures["rss_mib"] = [round(rss_mib(w.proc.pid)) for w in workers]
        results.throughput[f"{count}_worker"] = figures
        print(f"    {figures}", flush=True)
        if count == 1:
            first_workers = (group_settings, workers)
        else:
            for w in workers:
                w.stop()

    assert first_workers is not None
    group_settings, workers = first_workers
    rate = results.throughput["1_worker"]["events_per_second"] * plan.rate_fraction

    def measure_latency(who: str, out: str, time_field, round_: int, pid: int) -> None:
        for suffix, stall in LATENCY_VARIANTS:
            print(
                f"  latency at {rate:,.0f} events/s ({who}{f', after a {stall:g} s stall' if stall else ''}) ...",
                flush=True,
            )
            results.latency[who + suffix] = latency_run(
                bootstrap, settings.topic_prefix, out, rate, plan.latency_seconds, time_field, round_, pid, stall
            )
            print(f"    {results.latency[who + suffix]}", flush=True)

    measure_latency(
        "worker", topics.actions, lambda d: (d["data"].get("entity_id"), d["time"]), 1, workers[0].process.pid
    )
    follower = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.baseline", "follow", bootstrap, settings.topic_prefix, out_topic],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(3 + plan.events / max(base["events_per_second"], 1))  # let it catch up with the preload
        measure_latency("baseline", out_topic, lambda d: (d["entity"].split("/", 1)[1], d["time"]), 2, follower.pid)
    finally:
        follower.terminate()
        follower.wait(30)
    for suffix, _ in LATENCY_VARIANTS:
        worker, plain = results.latency[f"worker{suffix}"], results.latency[f"baseline{suffix}"]
        if worker.get("p99_ms") and plain.get("p99_ms"):
            results.latency[f"p99_ratio{suffix}"] = round(worker["p99_ms"] / plain["p99_ms"], 2)

    print("  recovery: restart the worker, rebuild tables from the changelog ...", flush=True)
    results.recovery = recovery(group_settings, workers[0], tmp)
    print(f"    {results.recovery}", flush=True)
    workers[0].stop()

    if plan.memory_entities:
        print(
            f"  memory: {plan.memory_entities:,} entities, {plan.memory_subscriptions:,} subscriptions ...", flush=True
        )
        results.memory = memory_phase(bootstrap, tmp, plan)
        print(f"    {results.memory}", flush=True)
    else:
        results.memory = {
            "rss_mib_after_throughput_run": results.throughput["1_worker"]["rss_mib"][0],
            "entities": plan.entities,
            "subscriptions": plan.subscriptions,
        }

    results.machine["seconds"] = round(time.monotonic() - began)
    out = ROOT / "benchmarks" / "results" / f"{mode}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(asdict(results), indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {out.relative_to(ROOT)}; {results.machine['seconds']} s in all")


def faust_floor(settings: Settings, tmp: Path, inputs: list[str], events: int, mode: str) -> dict:
    app_id = f"{settings.app_id}-floor-{mode}"
    args = [sys.executable, "-m", "benchmarks.faust_floor", settings.kafka_bootstrap, settings.topic_prefix, app_id]
    return run_until_caught_up(settings, [*args, str(settings.partitions), mode], app_id, tmp, inputs, events)


def run_until_caught_up(
    settings: Settings, command: list[str], group: str, tmp: Path, inputs: list[str], events: int
) -> dict:
    """Run a consumer of ``inputs`` (a reference: Faust's floor, the Quix implementation) as a child process in
    ``tmp`` until its consumer ``group`` has no lag, then stop it: its throughput figures."""
    ends = end_offsets(settings.kafka_bootstrap, inputs)
    began = time.monotonic()
    with open(tmp / f"{group}.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            command, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
    try:
        progress = follow_lag(settings.kafka_bootstrap, group, ends, 3600, [proc])
    finally:
        proc.terminate()
        proc.wait(60)
    return {"events": events, **progress.figures(began, events)}


def recovery(settings: Settings, worker: WorkerProcess, tmp: Path) -> dict:
    worker.stop()
    changelogs = [
        t
        for t in AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10).topics
        if t.startswith(settings.app_id + "-") and t.endswith("-changelog")
    ]
    ends = end_offsets(settings.kafka_bootstrap, changelogs)
    began = time.monotonic()
    worker.start(timeout=600)
    ready = time.monotonic() - began
    # Plain read of the same changelog topics, start to end.
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"r-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(t, p, 0) for t, p in ends])
    remaining = {tp for tp, end in ends.items() if end > 0}
    read = 0
    t0 = time.monotonic()
    while remaining:
        for msg in consumer.consume(10000, 0.5):
            if msg.error():
                continue
            read += 1
            tp = (str(msg.topic()), int(msg.partition() or 0))
            if int(msg.offset() or 0) + 1 >= ends[tp]:
                remaining.discard(tp)
    plain = time.monotonic() - t0
    consumer.close()
    return {
        "changelog_records": sum(ends.values()),
        "restart_to_ready_seconds": round(ready, 2),
        "plain_changelog_read_seconds": round(plain, 2),
        "ratio": round(ready / plain, 2) if plain else None,
    }


def memory_phase(bootstrap: str, tmp: Path, plan: Plan) -> dict:
    tag = uuid.uuid4().hex[:8]
    s = fresh_settings(bootstrap, tmp, plan.partitions, f"mem-{tag}")
    t = Topics(s)
    asyncio.run(ensure_topics(s))
    produce(
        bootstrap,
        ((t.subscriptions, k, v) for k, v in subscriptions(plan.memory_entities, plan.memory_subscriptions)),
        "subscriptions",
    )
    half = plan.memory_entities // 2
    start = datetime.now(UTC)

    def one_each():
        for e in range(plan.memory_entities):
            if e < half:
                yield (
                    t.segments,
                    f"seg-{e}",
                    {
                        "event_id": f"m{e}",
                        "event_time": event_time(start, e),
                        "segment_id": f"seg-{e}",
                        "segment_name": "S",
                        "member_count": 900,
                    },
                )
            else:
                yield (
                    t.measures,
                    f"mea-{e}",
                    {
                        "event_id": f"m{e}",
                        "event_time": event_time(start, e),
                        "measure_id": f"mea-{e}",
                        "measure_name": "M",
                        "value": 900.0,
                    },
                )

    produce(bootstrap, one_each(), "entity updates")
    figures, workers = run_workers(s, 1, tmp, [t.segments, t.measures], plan.memory_entities)
    rss = rss_mib(workers[0].proc.pid)
    restart = restart_to_first_trigger(s, workers[0], start)
    workers[0].stop()
    return {
        "entities": plan.memory_entities,
        "subscriptions": plan.memory_subscriptions,
        "rss_mib": round(rss),
        "seconds_to_zero_lag": figures["seconds"],
        "startup_seconds": figures["startup_seconds"],
        "restart_to_ready_seconds": restart,
    }


def restart_to_first_trigger(settings: Settings, worker: WorkerProcess, start: datetime) -> float:
    """Stop the worker holding everything, start it again, and send one crossing at once: the seconds from
    the new process's start to that trigger readable on the actions topic (the restart target)."""
    t = Topics(settings)
    worker.stop()
    ends = end_offsets(settings.kafka_bootstrap, [t.actions])
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"restart-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, end) for (topic, p), end in ends.items()])
    began = time.monotonic()
    worker.start(timeout=600)
    doc = {
        "event_id": "restart-probe",
        "event_time": event_time(start, 10**7),
        "segment_id": "seg-0",
        "segment_name": "S",
        "member_count": 5000,
    }
    produce(settings.kafka_bootstrap, [(t.segments, "seg-0", doc)], "restart probe")
    try:
        while time.monotonic() - began < 600:
            for msg in consumer.consume(100, 0.2):
                if not msg.error() and orjson.loads(msg.value() or b"{}").get("subject") == "segment/seg-0":
                    return round(time.monotonic() - began, 2)
        raise RuntimeError("no trigger from the restarted worker within 600 s")
    finally:
        consumer.close()


def print_table(r: Results) -> None:
    """Each figure with its target (issue 15); throughput is the steady rate, after the first commit."""
    t = r.throughput
    rows = [("throughput", "baseline (plain aiokafka)", f"{t['baseline']['events_per_second']:,} ev/s", "")]
    for key, figures in t.items():
        if key == "baseline":
            continue
        target = (
            f"{figures['ratio_to_faust_bare']} x faust bare (target >= 0.6), {figures['ratio_to_faust_uvloop']} x on "
            f"uvloop, {figures['ratio_to_faust_stock']} x faust stock"
            if "ratio_to_faust_bare" in figures
            else ""
        )
        rows.append(
            (
                "throughput",
                key.replace("_", " "),
                f"{figures['steady_events_per_second']:,} ev/s steady, start-up {figures['startup_seconds']} s",
                target,
            )
        )
    for who in (agent + suffix for suffix, _ in LATENCY_VARIANTS for agent in ("worker", "baseline")):
        lat = r.latency.get(who, {})
        if lat.get("p99_ms") is not None:
            name = who.removesuffix("_after_stall")
            where = f"{name} at {lat['rate']:,} ev/s" + (
                f", {lat['stall_seconds']:g} s stall" if "stall_seconds" in lat else ""
            )
            versus = (
                f"p99 {r.latency.get('p99_ratio')} x baseline (target <= 3)"
                if who == "worker"
                else f"p99 {r.latency.get('p99_ratio_after_stall')} x baseline"
                if who == "worker_after_stall"
                else ""
            )
            rows.append(
                (
                    "latency",
                    where,
                    f"p50 {lat['p50_ms']} / p95 {lat['p95_ms']} / p99 {lat['p99_ms']} / max "
                    f"{lat['max_ms']} ms; {lat['cpu_us_per_event']} us CPU/event",
                    versus,
                )
            )
    rec = r.recovery
    rows.append(
        (
            "recovery",
            f"{rec['changelog_records']:,} changelog records",
            f"restart {rec['restart_to_ready_seconds']} s vs plain read {rec['plain_changelog_read_seconds']} s",
            f"ratio {rec['ratio']}",
        )
    )
    m = r.memory
    if "restart_to_ready_seconds" in m:
        rows.append(
            (
                "restart",
                f"{m['entities']:,} entities, {m['subscriptions']:,} subs",
                f"ready {m['restart_to_ready_seconds']} s after start",
                "target <= 10 s",
            )
        )
    rows.append(
        (
            "memory",
            f"{m.get('entities', 0):,} entities, {m.get('subscriptions', 0):,} subs",
            f"{m.get('rss_mib', m.get('rss_mib_after_throughput_run'))} MiB RSS",
            "target <= 700 MiB" if "rss_mib" in m else "",
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print()
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
