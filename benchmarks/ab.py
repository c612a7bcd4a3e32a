"""A/B runs: one preload, then variants of the 1-worker run alternating over it, so that they share the
broker's state and this machine's drift (single runs here move by ±15%, and by more from day to day).
Prints each run's steady rate and the CPU seconds of the worker and of the broker (from /proc).

    VARIANTS='off:state_cache_entries=0;on:' ROUNDS=2 uv run python -m benchmarks.ab
    VARIANTS='before:PY=/path/to/old/checkout/.venv/bin/python;after:' uv run python -m benchmarks.ab

A variant is ``name:K=V,...``: a lower-case K is a Settings field of the worker, an upper-case K an
environment variable of its process (not CDP_*: those come from the settings), ``PY`` the interpreter of
another checkout (its code runs the worker). ``SIZES=events,entities,subscriptions`` (80000,10000,20000).
``PROFILE=DIR``: py-spy samples each run, into DIR/<variant>-<round>.speedscope.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import devtools.processes as processes
from streams.settings import load_settings

from . import pipeline as bench


def run_variant(
    settings, spec: str, tmp: Path, inputs: list[str], events: int, broker: int, profile: Path | None = None
) -> dict:
    overrides, env, python = {}, {}, sys.executable
    for item in filter(None, spec.split(",")):
        key, value = item.split("=", 1)
        if key == "PY":
            python = value
        elif key.islower():
            overrides[key] = value
        else:
            env[key] = value
    saved_env, saved = dict(os.environ), (sys.executable, processes.ROOT)
    os.environ.update(env)
    if python != sys.executable:  # WorkerProcess runs ``sys.executable -m streams.cli`` in ROOT
        sys.executable, processes.ROOT = python, Path(python).resolve().parent.parent.parent
    broker_before = bench.cpu_seconds(broker)
    try:
        variant = type(settings).model_validate({**settings.model_dump(), **overrides})  # validated: a typo fails here
        figures, workers = bench.run_workers(variant, 1, tmp, inputs, events, profile)
        figures["worker_cpu_s"] = round(bench.cpu_seconds(workers[0].proc.pid), 1)
        figures["rss_mib"] = round(bench.rss_mib(workers[0].proc.pid))
        for worker in workers:
            worker.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.executable, processes.ROOT = saved
    figures["broker_cpu_s"] = round(bench.cpu_seconds(broker) - broker_before, 1)
    return figures


def main() -> None:
    events, entities, subscriptions = (int(x) for x in os.environ.get("SIZES", "80000,10000,20000").split(","))
    variants = [v.split(":", 1) for v in os.environ["VARIANTS"].split(";")]
    broker = int(subprocess.check_output(["pgrep", "-f", "kafka.Kafka"]).split()[0])
    plan = bench.Plan(events, entities, subscriptions, 0, 0, 0, workers=(1,))
    tmp = Path(tempfile.mkdtemp(prefix="cdp-ab-"))
    tag = uuid.uuid4().hex[:8]
    settings = bench.fresh_settings(load_settings().kafka_bootstrap, tmp, plan.partitions, tag)
    inputs = bench.preload(settings, plan)
    for round_ in range(int(os.environ.get("ROUNDS", "2"))):
        for name, spec in variants:
            group = settings.model_copy(update={"app_id": f"ab-{tag}-{name}-{round_}"})
            profiles = os.environ.get("PROFILE")
            profile = Path(profiles) / f"{name}-{round_}.speedscope.json" if profiles else None
            f = run_variant(group, spec, tmp, inputs, events, broker, profile)
            print(
                f"round {round_} {name:12s} steady {f['steady_events_per_second'] or 0:>7,} events/s, "
                f"start-up {f['startup_seconds']} s, triggers {f['triggers']:,}, worker CPU {f['worker_cpu_s']} s, "
                f"broker CPU {f['broker_cpu_s']} s, RSS {f['rss_mib']} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
