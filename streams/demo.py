"""``cdp-triggers demo``: a worker, a scripted CDP and a live view of triggers.

Every cycle the script refreshes two data sources (one fails for good), moves
a segment and a measure across their thresholds and back, and runs a full
refresh with unification; every third cycle also starts a run that never
finishes, so 'stalled' fires too. All seven trigger types appear within about
half a minute.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from aiokafka import AIOKafkaConsumer

from schemas.events import (
    DataSourceChange,
    MeasureChange,
    RefreshFailure,
    RefreshRunStarted,
    SegmentChange,
    TaskProgress,
    TaskRef,
)
from schemas.triggers import TriggerEvent, TriggerType

from .producer import ChangeEvent, EventProducer, read_subscription_file
from .settings import Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SEGMENT, MEASURE = "high-value-customers", "monthly-revenue"
RUN_TASKS = [
    ("data_source", "crm"), ("data_source", "web-analytics"),
    ("unification", "map"), ("unification", "match"), ("unification", "merge"),
    ("segment", SEGMENT), ("measure", MEASURE),
]  # fmt: skip


def cycle(n: int, now: datetime) -> list[ChangeEvent]:
    """The change events of demo cycle ``n``, timed from ``now``."""
    t = lambda s: now + timedelta(seconds=s)  # noqa: E731
    eid = lambda name: f"demo-{n}-{name}"  # noqa: E731
    run = f"run-{n}"
    events: list[ChangeEvent] = [
        DataSourceChange(event_id=eid("crm-start"), event_time=t(0), data_source_id="crm",
                         data_source_name="CRM (Dynamics)", refresh_run_id=run, status="started"),
        DataSourceChange(event_id=eid("crm-retry"), event_time=t(0.2), data_source_id="crm",
                         data_source_name="CRM (Dynamics)", refresh_run_id=run, status="failed",
                         failure=RefreshFailure(code="Throttled", message="429 from source", will_retry=True)),
        DataSourceChange(event_id=eid("crm-done"), event_time=t(0.6), data_source_id="crm",
                         data_source_name="CRM (Dynamics)", refresh_run_id=run, status="succeeded",
                         row_count=120_000 + n),
        DataSourceChange(event_id=eid("web-start"), event_time=t(0.1), data_source_id="web-analytics",
                         data_source_name="Web analytics", refresh_run_id=run, status="started"),
        DataSourceChange(event_id=eid("web-fail"), event_time=t(0.7), data_source_id="web-analytics",
                         data_source_name="Web analytics", refresh_run_id=run, status="failed",
                         failure=RefreshFailure(code="AuthExpired", message="credentials expired",
                                                will_retry=False)),
        SegmentChange(event_id=eid("seg-low"), event_time=t(1.0), segment_id=SEGMENT,
                      segment_name="High-value customers", member_count=900, run_id=run),
        SegmentChange(event_id=eid("seg-high"), event_time=t(1.5), segment_id=SEGMENT,
                      segment_name="High-value customers", member_count=1100 + n, run_id=run),
        MeasureChange(event_id=eid("rev-low"), event_time=t(1.0), measure_id=MEASURE,
                      measure_name="Monthly revenue", value=45_000.0, run_id=run),
        MeasureChange(event_id=eid("rev-high"), event_time=t(1.6), measure_id=MEASURE,
                      measure_name="Monthly revenue", value=52_500.5 + n, run_id=run),
        RefreshRunStarted(event_id=eid("run"), event_time=t(0), kind="run_started", run_id=run,
                          trigger="scheduled", tasks=[TaskRef(kind=k, name=m) for k, m in RUN_TASKS]),
    ]  # fmt: skip
    for i, (kind, name) in enumerate(RUN_TASKS):
        status = "failed" if name == "web-analytics" else "succeeded"
        task = TaskRef(kind=kind, name=name)
        events.append(TaskProgress(event_id=eid(f"{name}-s"), event_time=t(0.1 + i * 0.1), kind="task_progress",
                                   run_id=run, task=task, status="started"))  # fmt: skip
        events.append(TaskProgress(event_id=eid(f"{name}-e"), event_time=t(0.5 + i * 0.2), kind="task_progress",
                                   run_id=run, task=task, status=status))  # fmt: skip
    if n % 3 == 0:
        events.append(RefreshRunStarted(event_id=eid("stuck"), event_time=t(0), kind="run_started",
                                        run_id=f"{run}-manual", trigger="manual",
                                        tasks=[TaskRef(kind="segment", name=SEGMENT)]))  # fmt: skip
    return events


COLOURS = {
    TriggerType.DATA_SOURCE_REFRESH_FAILED: "\033[31m",
    TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED: "\033[32m",
    TriggerType.SEGMENT_THRESHOLD_CROSSED: "\033[35m",
    TriggerType.MEASURE_THRESHOLD_CROSSED: "\033[35m",
    TriggerType.FULL_REFRESH_COMPLETED: "\033[36m",
    TriggerType.UNIFICATION_REFRESH_COMPLETED: "\033[36m",
    TriggerType.REFRESH_RUN_STALLED: "\033[33m",
}


def describe(event: TriggerEvent) -> str:
    """One readable line for a trigger event."""
    d = event.data
    details = {
        TriggerType.DATA_SOURCE_REFRESH_FAILED: lambda: f"{d['error_code']}: {d['error_message']}",
        TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED: lambda: f"{d.get('row_count')} rows",
        TriggerType.SEGMENT_THRESHOLD_CROSSED: lambda: f"{d['previous_value']:g} → {d['value']:g} "
        f"(threshold {d['threshold']:g}, {d['subscription_id']})",
        TriggerType.FULL_REFRESH_COMPLETED: lambda: ("all succeeded" if d["succeeded"] else
                                                     f"failed: {', '.join(d['failed_tasks'])}"),  # fmt: skip
        TriggerType.UNIFICATION_REFRESH_COMPLETED: lambda: " ".join(f"{s['name']}={s['status']}"
                                                                    for s in d["steps"]),  # fmt: skip
        TriggerType.REFRESH_RUN_STALLED: lambda: f"pending: {', '.join(d['pending_tasks'])}",
    }
    details[TriggerType.MEASURE_THRESHOLD_CROSSED] = details[TriggerType.SEGMENT_THRESHOLD_CROSSED]
    age = (datetime.now(timezone.utc) - event.time).total_seconds()
    return f"{event.type.short:<30} {event.subject:<40} {details[event.type]()}  (age {age:.1f}s)"


async def run_demo(settings: Settings, duration: float, say: Callable[[str], None], interval: float = 5.0,
                   until_all: bool = False, log_dir: Path = Path(".demo")) -> set[TriggerType]:  # fmt: skip
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / "worker.log"
    env = {**os.environ, "CDP_STALL_AFTER_SECONDS": "15", "CDP_STALL_CHECK_INTERVAL_SECONDS": "2"}
    say(f"starting the worker (log: {log_path})")
    with open(log_path, "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    seen: set[TriggerType] = set()
    try:
        await _wait_for_line(log_path, worker, "joined consumer group", say)
        async with EventProducer(settings) as producer:
            for sub in read_subscription_file(EXAMPLES / "subscriptions.yaml"):
                await producer.put_subscription(sub)
            say("subscriptions applied from examples/subscriptions.yaml; live trigger view (Ctrl-C stops):")
            consumer = AIOKafkaConsumer(producer.topics.actions, bootstrap_servers=settings.kafka_bootstrap,
                                        group_id=None, auto_offset_reset="latest")  # fmt: skip
            await consumer.start()
            try:
                await _drive(producer, consumer, worker, seen, duration, interval, until_all)
            finally:
                await consumer.stop()
    finally:
        _stop(worker)
        say("worker stopped")
    return seen


async def _drive(producer: EventProducer, consumer: AIOKafkaConsumer, worker: subprocess.Popen,
                 seen: set[TriggerType], duration: float, interval: float, until_all: bool) -> None:  # fmt: skip
    deadline = time.monotonic() + duration if duration else float("inf")
    n, next_cycle = 0, 0.0
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}; see .demo/worker.log")
        if time.monotonic() >= next_cycle:
            # Timed so the whole cycle lies just in the past, as real events would.
            for event in cycle(n, datetime.now(timezone.utc) - timedelta(seconds=2)):
                await producer.publish(event)
            n, next_cycle = n + 1, time.monotonic() + interval
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                event = TriggerEvent.model_validate_json(record.value)
                seen.add(event.type)
                print(f"{COLOURS[event.type]}{describe(event)}\033[0m", flush=True)
        if until_all and seen == set(TriggerType):
            return


async def _wait_for_line(path: Path, worker: subprocess.Popen, needle: str, say: Callable[[str], None]) -> None:
    start = path.stat().st_size
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}; see {path}")
        with open(path, "rb") as f:
            f.seek(start)
            for line in f.read().decode(errors="replace").splitlines():
                if needle in line:
                    say("worker: " + line.split("] ", 3)[-1][:160])
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the worker did not join its consumer group within 120 s; see {path}")


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
