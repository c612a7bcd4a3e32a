"""The long-running processes: worker and dispatcher; and the topics they use."""

from __future__ import annotations

from pathlib import Path

import typer

from ..settings import Settings
from .common import EXIT_CONFIG, ensure_topics, fail, say, settings

topics_app = typer.Typer(no_args_is_help=True, help="The pipeline's Kafka topics.")


def _launch(s: Settings, build, prepare=None) -> None:  # type: ignore[no-untyped-def]
    from ..runtime.launch import LaunchError, run

    try:
        run(s, build, say, prepare)
    except LaunchError as exc:
        fail(str(exc))


def worker(
    with_dispatcher: bool = typer.Option(
        False, "--with-dispatcher",
        help="Also run the dispatcher (needs CDP_ROUTES_FILE), as a supervised child process on metrics port + 1",
    ),
) -> None:
    """Run a worker: create missing topics, then consume, detect and publish triggers."""
    from ..worker.app import create_app

    s = settings()
    prepare = None
    if with_dispatcher:
        from ..worker.supervise import supervise_dispatcher

        routes(s)  # fail here, before anything starts, on a bad routes file
        prepare = lambda pipeline: supervise_dispatcher(pipeline.app, s, say)  # noqa: E731
    _launch(s, lambda: create_app(s), prepare)


def dispatcher() -> None:
    """Run the dispatcher: deliver trigger events to the receivers of CDP_ROUTES_FILE."""
    from ..delivery.app import create_dispatcher

    s = settings()
    loaded = routes(s)
    say(f"routes from {loaded.source}: {len(loaded.receivers)} receivers ({', '.join(loaded.receivers)})")
    _launch(s, lambda: create_dispatcher(s, loaded))


def routes(s: Settings):  # type: ignore[no-untyped-def]
    if s.routes_file is None:
        fail("CDP_ROUTES_FILE is not set. Hint: point it at a routes YAML (see examples/routes.yaml).", EXIT_CONFIG)
    return load_routes(s.routes_file)


def load_routes(path: Path):  # type: ignore[no-untyped-def]
    from ..delivery.config import RoutesError, load

    try:
        return load(path)
    except RoutesError as exc:
        fail(str(exc), EXIT_CONFIG)


@topics_app.command("create")
def topics_create() -> None:
    """Create missing topics (partitions and compaction as the worker expects)."""
    created = ensure_topics(settings())
    typer.echo(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else " (all existed)"))


@topics_app.command("list")
def topics_list() -> None:
    """Show the topics the pipeline uses and what each carries."""
    from ..topics import Topics

    for spec in Topics(settings()).specs():
        typer.echo(f"{spec.name:<40} {spec.partitions:>3}  {spec.purpose}")
