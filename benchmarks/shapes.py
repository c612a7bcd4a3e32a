"""Throughput by trigger share, side by side with the references, on the real local broker.

    ./dev bench --shapes          # three shapes of 200,000 events each (about 10 minutes here)

For each shape, on one preload: ``faust bare`` (issue 15's reference), one worker, the Quix Streams
implementation of the same job (``benchmarks/quix_reference.py``: the trigger ids are compared with the
worker's), and one worker on the same change events with no subscriptions (nothing fires). The last gives the
cost of an event with no subscriptions, and so what subscriptions and their triggers add, per trigger. Writes
results/shapes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from devtools.processes import ROOT
from streams.kafka.clients import ensure_topics
from streams.settings import Settings, load_settings
from streams.topics import Topics

from .pipeline import Plan, faust_floor, fresh_settings, generate, produce, run_until_caught_up, run_workers
from .pipeline import subscriptions as make_subscriptions
from .profile_summary import summarise
from .topic_reader import read_to_end

QUIX_PYTHON = ROOT / "benchmarks" / "quix" / ".venv" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results"
# name -> (plan, what it stands for). Events over entities sets how often one entity's value crosses: few
# updates per entity cross often (trigger-heavy), more updates per entity less; subscriptions on few entities
# make the common CDP case, where little fires.
SHAPES: dict[str, tuple[Plan, str]] = {
    "trigger-heavy": (Plan(200_000, 50_000, 100_000, 0, 0, 0), "issue 27's side-by-side run: about 37% fire"),
    "full-run": (Plan(200_000, 20_000, 40_000, 0, 0, 0), "the full run's proportions: about 21% fire"),
    # data-source and run events fire often (a tenth of the input fires about 3% by itself): a fiftieth here
    "trigger-light": (
        Plan(200_000, 20_000, 500, 0, 0, 0, other_share=0.02),
        "thresholds on a fortieth of the entities, few refreshes: about 1% fire",
    ),
}
COMMIT_INTERVAL = 1.0  # the production default, for the worker and the reference alike


def preload(settings: Settings, plan: Plan, start: datetime, with_subscriptions: bool) -> list[str]:
    topics = Topics(settings)
    asyncio.run(ensure_topics(settings))
    if with_subscriptions:
        subs = ((topics.subscriptions, k, v) for k, v in make_subscriptions(plan.entities, plan.subscriptions))
        produce(settings.kafka_bootstrap, subs, "subscriptions")
    events = ((settings.topic_prefix + t, k, v) for t, k, v in generate(plan, start))
    produce(settings.kafka_bootstrap, events, "change events")
    return [topics.datasources, topics.segments, topics.measures, topics.runs]


def trigger_ids(bootstrap: str, topic: str) -> list[str]:
    return [json.loads(msg.value() or b"null")["id"] for msg in read_to_end(bootstrap, topic)]


def quix(settings: Settings, tmp: Path, inputs: list[str], events: int) -> dict:
    group = f"{settings.app_id}-quix"
    command = [str(QUIX_PYTHON), "-W", "ignore", "-m", "benchmarks.quix_reference"]
    args = [settings.kafka_bootstrap, settings.topic_prefix, group, str(tmp / group)]
    return run_until_caught_up(settings, command + args, group, tmp, inputs, events)


def measure(name: str, plan: Plan, bootstrap: str, tmp: Path, profile: bool = False) -> dict:
    tag = uuid.uuid4().hex[:8]
    start = datetime.now(UTC)
    settings = fresh_settings(bootstrap, tmp, plan.partitions, tag).model_copy(
        update={"commit_interval_seconds": COMMIT_INTERVAL}
    )
    inputs = preload(settings, plan, start, with_subscriptions=True)
    figures: dict = {"plan": asdict(plan)}
    print("    faust bare ...", flush=True)
    figures["faust_bare"] = faust_floor(settings, tmp, inputs, plan.events, "bare")
    print("    faust stock (Faust's own message hand-over) ...", flush=True)
    figures["faust_stock"] = faust_floor(settings, tmp, inputs, plan.events, "stock")
    print("    worker ...", flush=True)
    sampled = RESULTS / f"shapes-{name}-worker.speedscope.json" if profile else None
    figures["worker"], workers = run_workers(settings, 1, tmp, inputs, plan.events, sampled)
    for w in workers:
        w.stop()
    if sampled is not None:
        sampled.with_suffix("").with_suffix(".profile.txt").write_text(summarise(sampled))
    print("    quix reference ...", flush=True)
    figures["quix"] = quix(settings, tmp, inputs, plan.events)
    ours = trigger_ids(bootstrap, Topics(settings).actions)
    theirs = trigger_ids(bootstrap, f"{settings.topic_prefix}quix-actions")
    figures["triggers"] = {
        "worker": len(ours),
        "quix": len(theirs),
        "same_ids": sorted(set(ours)) == sorted(set(theirs)),
        "worker_repeats": len(ours) - len(set(ours)),
        "share": round(len(set(ours)) / plan.events, 4),
    }

    print("    worker, the same events with no subscriptions ...", flush=True)
    quiet = fresh_settings(bootstrap, tmp, plan.partitions, tag + "q").model_copy(
        update={"commit_interval_seconds": COMMIT_INTERVAL}
    )
    quiet_inputs = preload(quiet, plan, start, with_subscriptions=False)
    figures["worker_no_subscriptions"], workers = run_workers(quiet, 1, tmp, quiet_inputs, plan.events)
    for w in workers:
        w.stop()

    compared = ("faust_bare", "faust_stock", "worker", "quix")
    steady = {k: figures[k]["steady_events_per_second"] for k in compared}
    quiet_rate = figures["worker_no_subscriptions"]["steady_events_per_second"]
    fired = len(set(ours))
    per_event_us = 1e6 / steady["worker"]
    quiet_us = 1e6 / quiet_rate
    cpu = {k: figures[k]["steady_cpu_us_per_event"] for k in compared}
    figures["summary"] = {
        "steady_events_per_second": steady,
        "worker_to_quix": round(steady["worker"] / steady["quix"], 3),
        "steady_cpu_us_per_event": cpu,
        # events per CPU-second, against the reference's (its librdkafka threads run beside its Python thread)
        "worker_to_quix_per_cpu": round(cpu["quix"] / cpu["worker"], 3),
        "worker_to_faust_bare": round(steady["worker"] / steady["faust_bare"], 3),
        "worker_to_faust_stock": round(steady["worker"] / steady["faust_stock"], 3),
        "us_per_event": round(per_event_us, 1),
        "us_per_event_no_subscriptions": round(quiet_us, 1),
        # below a tenth of the events firing, the difference is within the runs' noise
        "us_per_trigger": round((per_event_us - quiet_us) * plan.events / fired, 1)
        if fired > plan.events / 10
        else None,
    }
    print(f"    {figures['summary']} {figures['triggers']}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(SHAPES), action="append", help="run only these shapes")
    parser.add_argument(
        "--profile", action="store_true", help="sample each worker run with py-spy: results/shapes-<shape>-worker.*"
    )
    args = parser.parse_args()
    if not QUIX_PYTHON.exists():
        sys.exit("the Quix reference's environment is missing: uv sync --frozen --project benchmarks/quix")
    bootstrap = load_settings().kafka_bootstrap
    tmp = Path(tempfile.mkdtemp(prefix="cdp-shapes-"))
    began = time.monotonic()
    out = RESULTS / "shapes.json"
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "shapes": {}}
    if args.only and out.exists():  # the other shapes keep their last figures
        results["shapes"] = json.loads(out.read_text())["shapes"]
    for name, (plan, what) in SHAPES.items():
        if args.only and name not in args.only:
            continue
        print(
            f"  {name} ({what}): {plan.events:,} events, {plan.entities:,} entities, "
            f"{plan.subscriptions:,} subscriptions",
            flush=True,
        )
        results["shapes"][name] = {"what": what, **measure(name, plan, bootstrap, tmp, args.profile)}
    results["machine"]["seconds"] = round(time.monotonic() - began)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print_targets(results)
    print(f"\nwritten to {out.relative_to(ROOT)}; {results['machine']['seconds']} s in all")


def print_table(results: dict) -> None:
    print()
    print(
        f"{'shape':<14} {'fire':>6} {'worker ev/s':>12} {'quix ev/s':>10} {'x quix':>7} {'faust bare':>11} "
        f"{'x bare':>7} {'x stock':>7} {'µs/event':>9} {'µs no subs':>11} {'µs/trigger':>11} {'same ids':>9} "
        f"{'CPU µs/ev':>9} {'quix':>5} {'x quix/CPU':>10}"
    )
    for name, shape in results["shapes"].items():
        s, t = shape["summary"], shape["triggers"]
        rates, cpu = s["steady_events_per_second"], s.get("steady_cpu_us_per_event", {})
        print(
            f"{name:<14} {t['share']:>6.1%} {rates['worker']:>12,} {rates['quix']:>10,} {s['worker_to_quix']:>7} "
            f"{rates['faust_bare']:>11,} {s['worker_to_faust_bare']:>7} {s.get('worker_to_faust_stock', '-')!s:>7} "
            f"{s['us_per_event']:>9} "
            f"{s['us_per_event_no_subscriptions']:>11} {s['us_per_trigger']!s:>11} {t['same_ids']!s:>9} "
            f"{cpu.get('worker', '-')!s:>9} {cpu.get('quix', '-')!s:>5} {s.get('worker_to_quix_per_cpu', '-')!s:>10}"
        )


# shape -> (reference, target ratio of the worker's steady rate to it, what is said of it)
TARGETS = {
    "trigger-heavy": ("quix", 1.0, "stretch 1.5"),
    "full-run": ("faust_bare", 0.6, "the full run's target, on this shape"),
    "trigger-light": ("quix", 0.75, ""),
}


def print_targets(results: dict) -> None:
    print("\ntargets (one worker, steady)")
    for name, (reference, target, note) in TARGETS.items():
        shape = results["shapes"].get(name)
        if shape is None:
            continue
        rates, cpu = shape["summary"]["steady_events_per_second"], shape["summary"].get("steady_cpu_us_per_event")
        ratio = rates["worker"] / rates[reference]
        per_cpu = f"; {cpu[reference] / cpu['worker']:.2f} x per CPU-second" if cpu else ""
        if reference == "faust_bare" and "faust_stock" in rates:
            per_cpu += f"; {rates['worker'] / rates['faust_stock']:.2f} x faust stock"
        verdict = "met" if ratio >= target else "missed"
        extra = f", {note}" if note else ""
        print(
            f"  {name:<14} {ratio:.2f} x {reference.replace('_', ' ')} (target >= {target}{extra}: {verdict}){per_cpu}"
        )


if __name__ == "__main__":
    main()
