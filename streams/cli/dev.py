"""Development commands: the dev broker, the simulator, the demo. They live in
``devtools``; the CLI offers them when that package is installed."""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import UTC

import typer

from devtools.broker import USERS, DevBroker
from devtools.jvm import JvmError
from devtools.registry import DevRegistry
from devtools.settings import load_broker_settings, load_registry_settings

from ..settings import ConfigError
from .common import EXIT_CONFIG, ensure_topics, fail, one_line, run, say, settings

broker_app = typer.Typer(no_args_is_help=True, help="The local development Kafka broker (KRaft, from Maven Central).")


def _broker(**overrides: object) -> DevBroker:
    try:
        return DevBroker(load_broker_settings(**overrides), say=say)
    except (JvmError, ConfigError) as exc:
        fail(str(exc), EXIT_CONFIG)


@broker_app.command("start")
def broker_start(
    secure: bool = typer.Option(
        False,
        "--secure",
        help="Also SASL_SSL (SCRAM, PLAIN) on port+2 and mutual TLS on "
        "port+3, with an authorizer; prints the client settings",
    ),
) -> None:
    """Fetch (first time) and start the broker; returns when it answers. Idempotent."""
    broker = _broker(**({"secure": True} if secure else {}))
    began = time.monotonic()
    try:
        status = broker.start()
    except JvmError as exc:
        fail(str(exc))
    typer.echo(f"broker {status.describe()} ({time.monotonic() - began:.1f} s)")
    if broker.secure:
        typer.echo(
            f"principals: {', '.join(USERS)} (and admin, a super user); passwords and certificates in "
            f"{broker.secrets_dir}; grant each role its ACLs ('cdp-triggers acls ROLE --principal User:NAME')"
        )
        for how in ("scram", "plain", "mtls"):
            settings_line = " ".join(f"{k}={v}" for k, v in broker.client_settings("worker", how).items())
            typer.echo(f"worker over {how}: {settings_line}")


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
            with open(broker.log_file, errors="replace") as f:
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


registry_app = typer.Typer(
    no_args_is_help=True, help="The local development Schema Registry (Apicurio Registry, from Maven Central)."
)


def _registry() -> DevRegistry:
    try:
        return DevRegistry(load_registry_settings(), say=say)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)


@registry_app.command("start")
def registry_start() -> None:
    """Fetch (first time) and start the registry; returns when it answers. Idempotent. Subjects live in memory."""
    registry = _registry()
    began = time.monotonic()
    try:
        status = registry.start()
    except JvmError as exc:
        fail(str(exc))
    typer.echo(f"registry {status.describe()} ({time.monotonic() - began:.1f} s)")
    typer.echo(f"CDP_SCHEMA_REGISTRY_URL={registry.url}")


@registry_app.command("stop")
def registry_stop() -> None:
    """Stop the registry if it runs (its subjects are gone)."""
    typer.echo("registry stopped" if _registry().stop() else "registry was not running")


@registry_app.command("status")
def registry_status() -> None:
    """Print whether the registry runs and answers; exit 3 when it does not."""
    status = _registry().status()
    typer.echo(f"registry {status.describe()}")
    if not status.answering:
        raise typer.Exit(3)


@broker_app.command("reset")
def broker_reset(yes: bool = typer.Option(False, "--yes", help="Do not ask")) -> None:
    """Stop the broker and delete its data."""
    if not yes:
        typer.confirm("Delete all topics and offsets of the dev broker?", abort=True)
    _broker().reset()
    typer.echo("broker data deleted")


def demo(
    duration: float = typer.Option(0, help="Stop after this many seconds (0: until Ctrl-C)"),
    until_all: bool = typer.Option(False, "--until-all", help="Stop once all six trigger types have fired"),
    seed: int = typer.Option(7, help="Simulator seed: the same seed plays the same story"),
    speed: float = typer.Option(60.0, help="Simulated seconds per real second"),
) -> None:
    """Run a worker, a dispatcher and a simulated CDP, and show the triggers as they fire."""
    import asyncio

    from devtools.demo import run_demo

    s = settings()
    ensure_topics(s)
    try:
        seen = asyncio.run(run_demo(s, duration, say, until_all=until_all, seed=seed, speed=speed))
    except KeyboardInterrupt:  # Ctrl-C during start-up, before the demo handles it itself
        say("stopped")
        return
    except RuntimeError as exc:
        fail(str(exc))
    say(f"trigger types seen: {len(seen)} of 7")


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
    from datetime import datetime

    from pydantic import ValidationError

    from devtools.simulator import SimConfig, Simulation

    from ..client.producer import EventProducer, play
    from ..kafka.codec import encode

    if not duration and not events and not dry_run:
        say("no --duration or --events: running until Ctrl-C")
    try:
        config = SimConfig(seed=seed, speed=speed, data_sources=sources, segments=segments, measures=measures)
        start = datetime.fromisoformat(origin) if origin else datetime.now(UTC)
    except (ValidationError, ValueError) as exc:
        fail(one_line(exc), EXIT_CONFIG)
    if start.tzinfo is None:
        fail("--origin needs a UTC offset, e.g. 2026-11-24T08:00:00+00:00", EXIT_CONFIG)
    sim = Simulation(config, start)
    if dry_run:
        import itertools

        stream = sim.events()
        if duration:
            stream = itertools.takewhile(lambda t: t.at <= duration, stream)
        for timed in itertools.islice(stream, events or (None if duration else 100)):
            typer.echo(encode(timed.event).decode())  # JSON lines: each event carries its own event_time
        return
    s = settings()

    async def go() -> None:
        async with EventProducer(s) as producer:
            sent = await play(
                producer,
                sim.events(),
                duration=duration or None,
                max_events=events or None,
                max_rate=max_rate or None,
                pace=not unpaced,
            )
        typer.echo(f"published {sent} events")

    with contextlib.suppress(KeyboardInterrupt):
        run(go)
