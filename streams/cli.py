"""``cdp-triggers``: the one command-line entry point."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import NoReturn

import typer

from .broker import BrokerError, DevBroker
from .settings import ConfigError, Settings, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Self-hosted CDP trigger engine on Kafka.")
broker_app = typer.Typer(no_args_is_help=True, help="The local development Kafka broker (KRaft, from Maven Central).")
app.add_typer(broker_app, name="broker")

# Exit codes: 1 = the operation failed, 2 = bad configuration or usage.
EXIT_FAILED, EXIT_CONFIG = 1, 2


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)


def _say(message: str) -> None:
    typer.secho(f"» {message}", err=True, fg=typer.colors.CYAN)


def _broker() -> DevBroker:
    try:
        return DevBroker(_settings(), say=_say)
    except BrokerError as exc:
        _fail(str(exc), EXIT_CONFIG)


@broker_app.command("start")
def broker_start() -> None:
    """Fetch (first time) and start the broker; returns when it answers. Idempotent."""
    broker = _broker()
    began = time.monotonic()
    try:
        status = broker.start()
    except BrokerError as exc:
        _fail(str(exc))
    typer.echo(f"broker {status.describe()} ({time.monotonic() - began:.1f} s)")


@broker_app.command("stop")
def broker_stop() -> None:
    """Stop the broker if it runs."""
    stopped = _broker().stop()
    typer.echo("broker stopped" if stopped else "broker was not running")


@broker_app.command("status")
def broker_status() -> None:
    """Print whether the broker runs and answers; exit 3 when it does not."""
    status = _broker().status()
    typer.echo(f"broker {status.describe()}")
    if not status.answering:
        raise typer.Exit(3)


@broker_app.command("logs")
def broker_logs(
    lines: int = typer.Option(50, "--lines", "-n", help="How many lines from the end"),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines"),
) -> None:
    """Show the broker's log."""
    broker = _broker()
    typer.echo(broker.log_tail(lines))
    if follow:
        try:
            with open(broker.log_file, "r", errors="replace") as f:
                f.seek(0, 2)
                while True:
                    line = f.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.3)
        except KeyboardInterrupt:
            pass


@broker_app.command("reset")
def broker_reset(yes: bool = typer.Option(False, "--yes", help="Do not ask")) -> None:
    """Stop the broker and delete its data."""
    if not yes:
        typer.confirm("Delete all topics and offsets of the dev broker?", abort=True)
    _broker().reset()
    typer.echo("broker data deleted")


def _start_faust(settings: Settings, build):  # type: ignore[no-untyped-def]
    """Create missing topics, build the pipeline, serve metrics: what both the
    worker and the dispatcher do before Faust takes over."""
    import asyncio

    from .topics import ensure_topics

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        created = loop.run_until_complete(ensure_topics(settings))
    except ConnectionError as exc:
        _fail(f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start' or set CDP_KAFKA_BOOTSTRAP.")
    if created:
        _say(f"created topics: {', '.join(created)}")
    pipeline = build(loop)
    if settings.metrics_port:
        try:
            pipeline.metrics.serve(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            _fail(f"CDP_METRICS_PORT: cannot listen on {settings.metrics_host}:{settings.metrics_port} ({exc.strerror})."
                  " Hint: another worker may use it; give each worker its own port, or 0 to disable.")  # fmt: skip
        _say(f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    return pipeline, loop


@app.command()
def worker(
    with_dispatcher: bool = typer.Option(
        False, "--with-dispatcher",
        help="Also run the dispatcher (needs CDP_ROUTES_FILE), as a supervised child process on metrics port + 1",
    ),
) -> None:
    """Run a worker: create missing topics, then consume, detect and publish triggers."""
    from faust.worker import Worker

    from .app import create_app

    settings = _settings()
    if with_dispatcher:
        _routes(settings)  # fail here, before anything starts, on a bad routes file

    def build(loop):  # type: ignore[no-untyped-def]
        pipeline = create_app(settings)
        loop.run_until_complete(pipeline.registry.load(settings.kafka_bootstrap, pipeline.topics.subscriptions))
        return pipeline

    pipeline, loop = _start_faust(settings, build)
    if with_dispatcher:
        from .supervise import supervise_dispatcher

        supervise_dispatcher(pipeline.app, settings, _say)
    Worker(pipeline.app, loglevel=settings.log_level, loop=loop).execute_from_commandline()


def _routes(settings: Settings):  # type: ignore[no-untyped-def]
    if settings.routes_file is None:
        _fail("CDP_ROUTES_FILE is not set. Hint: point it at a routes YAML (see examples/routes.yaml).", EXIT_CONFIG)
    return _load_routes(settings.routes_file)


def _load_routes(path: Path):  # type: ignore[no-untyped-def]
    from .delivery.config import RoutesError, load

    try:
        return load(path)
    except RoutesError as exc:
        _fail(str(exc), EXIT_CONFIG)


@app.command()
def dispatcher() -> None:
    """Run the dispatcher: deliver trigger events to the receivers of CDP_ROUTES_FILE."""
    from faust.worker import Worker

    from .app import create_dispatcher

    settings = _settings()
    routes = _routes(settings)
    _say(f"routes from {routes.source}: {len(routes.receivers)} receivers ({', '.join(routes.receivers)})")
    pipeline, loop = _start_faust(settings, lambda loop: create_dispatcher(settings, routes))
    Worker(pipeline.app, loglevel=settings.log_level, loop=loop).execute_from_commandline()


routes_app = typer.Typer(no_args_is_help=True, help="The routes file: receivers and the route tree.")
app.add_typer(routes_app, name="routes")


@routes_app.command("check")
def routes_check(
    path: Path = typer.Argument(..., help="Routes YAML"),
    show: bool = typer.Option(False, "--show", help="Print the configuration as loaded, secrets masked"),
) -> None:
    """Validate a routes file and read its secrets (never printed)."""
    import json

    routes = _load_routes(path)
    if show:
        typer.echo(json.dumps(routes.dump(), indent=2))
    kinds = ", ".join(f"{name} ({r.spec.kind})" for name, r in routes.receivers.items())
    typer.echo(f"{path}: valid; receivers: {kinds}")


topics_app = typer.Typer(no_args_is_help=True, help="The pipeline's Kafka topics.")
app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def topics_create() -> None:
    """Create missing topics (partitions and compaction as the worker expects)."""
    import asyncio

    from .topics import ensure_topics

    settings = _settings()
    try:
        created = asyncio.run(ensure_topics(settings))
    except ConnectionError as exc:
        _fail(f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start'.")
    typer.echo(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else " (all existed)"))


@topics_app.command("list")
def topics_list() -> None:
    """Show the topics the pipeline uses and what each carries."""
    from .topics import Topics

    for spec in Topics(_settings()).specs():
        typer.echo(f"{spec.name:<40} {spec.partitions:>3}  {spec.purpose}")


@app.command()
def demo(
    duration: float = typer.Option(0, help="Stop after this many seconds (0: until Ctrl-C)"),
    until_all: bool = typer.Option(False, "--until-all", help="Stop once all six trigger types have fired"),
    seed: int = typer.Option(7, help="Simulator seed: the same seed plays the same story"),
    speed: float = typer.Option(60.0, help="Simulated seconds per real second"),
) -> None:
    """Run a worker, a dispatcher and a simulated CDP, and show the triggers as they fire."""
    import asyncio

    from .demo import run_demo
    from .topics import ensure_topics

    settings = _settings()
    try:
        asyncio.run(ensure_topics(settings))
    except ConnectionError as exc:
        _fail(f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start'.")
    try:
        seen = asyncio.run(run_demo(settings, duration, _say, until_all=until_all, seed=seed, speed=speed))
    except KeyboardInterrupt:  # Ctrl-C during start-up, before the demo handles it itself
        _say("stopped")
        return
    except RuntimeError as exc:
        _fail(str(exc))
    _say(f"trigger types seen: {len(seen)} of 7")


@app.command()
def simulate(
    seed: int = typer.Option(7, help="The same seed (and start time) plays the same events"),
    speed: float = typer.Option(60.0, help="Simulated seconds per real second"),
    duration: float = typer.Option(0, help="Stop after this many real seconds of events (0: no limit)"),
    events: int = typer.Option(0, "--events", help="Stop after this many events (0: no limit)"),
    max_rate: float = typer.Option(0, "--max-rate", help="Never publish more than this many events per second"),
    unpaced: bool = typer.Option(False, "--unpaced", help="Publish as fast as possible instead of on schedule"),
    sources: int = typer.Option(4, help="Data sources (max 8)"),
    segments: int = typer.Option(3, help="Segments (max 5)"),
    measures: int = typer.Option(2, help="Business measures (max 3)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the events as JSON lines instead of publishing"),
    origin: str = typer.Option("", help="Start time, RFC 3339 (default: now); with --seed, fixes the output"),
) -> None:
    """Play a simulated CDP: refreshing data sources, refresh runs, drifting segments and measures."""
    from datetime import datetime, timezone

    from pydantic import ValidationError

    from .codec import encode
    from .producer import EventProducer, play
    from .simulator import SimConfig, Simulation

    if not duration and not events and not dry_run:
        _say("no --duration or --events: running until Ctrl-C")
    try:
        config = SimConfig(seed=seed, speed=speed, data_sources=sources, segments=segments, measures=measures)
        start = datetime.fromisoformat(origin) if origin else datetime.now(timezone.utc)
    except (ValidationError, ValueError) as exc:
        _fail(_one_line(exc), EXIT_CONFIG)
    if start.tzinfo is None:
        _fail("--origin needs a UTC offset, e.g. 2026-11-24T08:00:00+00:00", EXIT_CONFIG)
    sim = Simulation(config, start)
    if dry_run:
        import itertools

        stream = sim.events()
        if duration:
            stream = itertools.takewhile(lambda t: t.at <= duration, stream)
        for timed in itertools.islice(stream, events or (None if duration else 100)):
            typer.echo(f"{timed.at:.3f} {encode(timed.event).decode()}")
        return
    settings = _settings()

    async def go() -> None:
        async with EventProducer(settings) as producer:
            sent = await play(producer, sim.events(), duration=duration or None, max_events=events or None,
                              max_rate=max_rate or None, pace=not unpaced)  # fmt: skip
        typer.echo(f"published {sent} events")

    try:
        _run(go)
    except KeyboardInterrupt:
        pass


def _one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
    return str(exc)


PUBLISH_KINDS = {"datasource": "DataSourceChange", "segment": "SegmentChange", "measure": "MeasureChange",
                 "run": "RefreshRunChange"}  # fmt: skip


@app.command()
def publish(
    kind: str = typer.Argument(..., help="datasource, segment, measure or run"),
    document: str = typer.Argument("", help="The event as JSON; '-' reads one event per line from stdin"),
    field: list[str] = typer.Option([], "--set", "-s", help="field=value (value parsed as JSON if it can be), repeatable"),
) -> None:
    """Validate and publish change events, from JSON or --set flags. event_id and event_time default to a new id and now."""
    import json
    import uuid
    from datetime import datetime, timezone

    from pydantic import TypeAdapter, ValidationError

    import schemas.events as models

    from .producer import EventProducer

    if kind not in PUBLISH_KINDS:
        _fail(f"unknown kind {kind!r}; use one of: {', '.join(PUBLISH_KINDS)}", EXIT_CONFIG)
    adapter: TypeAdapter = TypeAdapter(getattr(models, PUBLISH_KINDS[kind]))

    def build(text: str, line: int | None) -> object:
        where = f"line {line}: " if line else ""
        try:
            doc = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            _fail(f"{where}not JSON: {exc}", EXIT_CONFIG)
        for item in field:
            name, sep, raw = item.partition("=")
            if not sep:
                _fail(f"--set {item!r}: expected field=value", EXIT_CONFIG)
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            target = doc
            *parents, leaf = name.split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
        doc.setdefault("event_id", str(uuid.uuid4()))
        doc.setdefault("event_time", datetime.now(timezone.utc).isoformat())
        try:
            return adapter.validate_python(doc)
        except ValidationError as exc:
            _fail(f"{where}invalid {kind} event: {_one_line(exc)}", EXIT_CONFIG)

    texts = list(sys.stdin) if document == "-" else [document]
    built = [build(text, i + 1 if document == "-" else None) for i, text in enumerate(texts) if text.strip() or field]
    settings = _settings()

    async def go() -> None:
        async with EventProducer(settings) as producer:
            for event in built:
                await producer.publish(event)  # type: ignore[arg-type]

    _run(go)
    typer.echo(f"published {len(built)} {kind} event{'s' if len(built) != 1 else ''}")


@app.command()
def tail(
    as_json: bool = typer.Option(False, "--json", help="Print each trigger event as one JSON line"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest retained trigger"),
    limit: int = typer.Option(0, "--limit", help="Stop after this many triggers (0: never)"),
    idle: float = typer.Option(0, "--idle", help="Stop after this many seconds without a trigger (0: never)"),
) -> None:
    """Follow the actions topic: one line per trigger event (type, entity, values, age)."""
    settings = _settings()

    async def go() -> int:
        from aiokafka import AIOKafkaConsumer

        from schemas.triggers import TriggerEvent

        from . import liveview
        from .topics import Topics

        actions = Topics(settings).actions
        await _require_topic(settings, actions)
        console = liveview.console()
        consumer = AIOKafkaConsumer(actions, bootstrap_servers=settings.kafka_bootstrap,
                                    group_id=None, auto_offset_reset="earliest" if from_beginning else "latest")  # fmt: skip
        await consumer.start()
        shown, last = 0, time.monotonic()
        try:
            while not (limit and shown >= limit) and not (idle and time.monotonic() - last > idle):
                batch = [r for records in (await consumer.getmany(timeout_ms=300)).values() for r in records]
                for record in batch[: limit - shown] if limit else batch:
                    if as_json:
                        typer.echo(record.value.decode())
                    else:
                        console.print(liveview.line(TriggerEvent.model_validate_json(record.value)))
                    shown, last = shown + 1, time.monotonic()
        finally:
            await consumer.stop()
        return shown

    try:
        _run(go)
    except KeyboardInterrupt:
        pass


async def _require_topic(settings: Settings, topic: str) -> None:
    """MissingTopicsError (reported by ``_run``) when ``topic`` does not exist."""
    from aiokafka.admin import AIOKafkaAdminClient

    from .topics import require_topics

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await require_topics(admin.list_topics, [topic])
    finally:
        await admin.close()


subs_app = typer.Typer(no_args_is_help=True, help="Threshold subscriptions (on the compacted subscriptions topic).")
app.add_typer(subs_app, name="subscriptions")


def _run(coro_fn) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from aiokafka.errors import KafkaConnectionError

    from .topics import MissingTopicsError

    try:
        asyncio.run(coro_fn())
    except (KafkaConnectionError, ConnectionError) as exc:
        _fail(f"Kafka is not reachable ({exc}). Hint: 'cdp-triggers broker start' or set CDP_KAFKA_BOOTSTRAP.")
    except MissingTopicsError as exc:
        _fail(f"{exc}. Hint: 'cdp-triggers topics create' (or start a worker), and check CDP_TOPIC_PREFIX.")


@subs_app.command("apply")
def subs_apply(path: Path = typer.Argument(..., help="YAML file: subscriptions: [...]")) -> None:
    """Add or update every subscription in a YAML file."""
    from .producer import EventProducer, SubscriptionFileError, read_subscription_file

    settings = _settings()
    try:
        subs = read_subscription_file(path)
    except SubscriptionFileError as exc:
        _fail(str(exc), EXIT_CONFIG)

    async def go() -> None:
        async with EventProducer(settings) as producer:
            for sub in subs:
                await producer.put_subscription(sub)

    _run(go)
    typer.echo(f"applied {len(subs)} subscriptions")


@subs_app.command("add")
def subs_add(
    subscription_id: str = typer.Argument(...),
    kind: str = typer.Option(..., "--kind", help="segment or measure"),
    entity: str = typer.Option(..., "--entity", help="segment or measure id"),
    threshold: float = typer.Option(..., "--threshold"),
    recovery: float | None = typer.Option(None, "--recovery", help="re-arm below this (default: threshold)"),
    owner: str = typer.Option(..., "--owner"),
    label: list[str] = typer.Option([], "--label", help="key=value, repeatable"),
) -> None:
    """Add or update one subscription."""
    from pydantic import ValidationError

    from schemas.subscriptions import ThresholdSubscription

    from .producer import EventProducer

    settings = _settings()
    try:
        labels = dict(item.split("=", 1) for item in label)
        sub = ThresholdSubscription(subscription_id=subscription_id, entity_kind=kind, entity_id=entity,
                                    threshold=threshold, recovery_threshold=recovery, owner=owner, labels=labels)  # type: ignore[arg-type]  # fmt: skip
    except ValueError as exc:
        _fail(_one_line(exc) if isinstance(exc, ValidationError) else f"label: {exc}", EXIT_CONFIG)

    async def go() -> None:
        async with EventProducer(settings) as producer:
            await producer.put_subscription(sub)

    _run(go)
    typer.echo(f"subscription {subscription_id} saved")


@subs_app.command("remove")
def subs_remove(subscription_id: str = typer.Argument(...)) -> None:
    """Remove a subscription (writes a tombstone)."""
    from .producer import EventProducer

    settings = _settings()
    known = _load_registry(settings)
    if known.get(subscription_id) is None:
        _fail(f"no subscription {subscription_id!r}. Hint: 'cdp-triggers subscriptions list'.")

    async def go() -> None:
        async with EventProducer(settings) as producer:
            await producer.remove_subscription(subscription_id)

    _run(go)
    typer.echo(f"subscription {subscription_id} removed")


@subs_app.command("list")
def subs_list(as_json: bool = typer.Option(False, "--json", help="One JSON object per line")) -> None:
    """List the active subscriptions."""
    registry = _load_registry(_settings())
    for sub in sorted(registry.all(), key=lambda s: s.subscription_id):
        if as_json:
            typer.echo(sub.model_dump_json())
        else:
            rearm = "" if sub.recovery_threshold is None else f" (re-arm < {sub.recovery_threshold:g})"
            typer.echo(f"{sub.subscription_id:<24} {sub.entity_key:<40} >= {sub.threshold:g}{rearm}  {sub.owner}")


def _load_registry(settings: Settings):  # type: ignore[no-untyped-def]
    from .registry import SubscriptionRegistry
    from .topics import Topics

    registry = SubscriptionRegistry()

    async def go() -> None:
        await registry.load(settings.kafka_bootstrap, Topics(settings).subscriptions)
        await registry.close()

    _run(go)
    return registry


schemas_app = typer.Typer(no_args_is_help=True, help="The published JSON Schemas.")
app.add_typer(schemas_app, name="schemas")


@schemas_app.command("export")
def schemas_export(directory: Path = typer.Argument(Path("schemas/json"))) -> None:
    """Write the JSON Schema of every event model into DIRECTORY."""
    from schemas.export import write

    for path in write(directory):
        typer.echo(path)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
