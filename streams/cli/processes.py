"""The long-running processes: worker and dispatcher; and the topics they use."""

from __future__ import annotations

import typer

from ..settings import Settings
from .common import EXIT_CONFIG, ensure_topics, fail, say, settings

topics_app = typer.Typer(no_args_is_help=True, help="The pipeline's Kafka topics.")


def complain(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)


def worker(
    with_dispatcher: bool = typer.Option(
        False,
        "--with-dispatcher",
        help="Also run the dispatcher (needs CDP_ROUTES_FILE), as a supervised child process on metrics port + 1",
    ),
) -> None:
    """Run a worker: create missing topics, then consume, detect and publish triggers."""
    from ..runtime.launch import launch
    from ..worker.app import create_app

    s = settings()
    prepare = None
    if with_dispatcher:
        from ..delivery.config import RoutesError, for_settings
        from ..worker.supervise import supervise

        try:
            for_settings(s)  # fail here, before anything starts, on a bad routes file
        except RoutesError as exc:
            fail(str(exc), EXIT_CONFIG)
        child = s.model_copy(
            update={
                "metrics_port": s.dispatcher_metrics_port,
                "instance_id": f"{s.instance_id}-dispatcher" if s.instance_id else None,
            }
        )
        prepare = lambda pipeline: supervise(pipeline, "dispatcher", dispatcher_in_child, child, say)  # noqa: E731
    raise typer.Exit(launch(s, "worker", lambda: create_app(s), say, complain, prepare))


def dispatcher() -> None:
    """Run the dispatcher: deliver trigger events to the receivers of CDP_ROUTES_FILE and the API's hooks."""
    from ..delivery.app import main

    raise typer.Exit(main(settings(), say, complain))


def dispatcher_in_child(s: Settings) -> None:
    """The dispatcher of ``worker --with-dispatcher``, in its child process."""
    from ..delivery.app import main

    raise SystemExit(main(s, say, complain))


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


def acls(
    role: str = typer.Argument(
        ...,
        help="worker, dispatcher, producer (publish, subscriptions), api, viewer (tail), operator (dead-letters) "
        "or topics ('topics create')",
    ),
    principal: str = typer.Option(..., "--principal", help="The Kafka principal, e.g. User:cdp-worker"),
) -> None:
    """Print the kafka-acls.sh commands that grant ROLE exactly what it needs (least privilege)."""
    from ..acls import ROLES, kafka_acls_commands
    from ..acls import acls as declared

    if role not in ROLES:
        fail(f"unknown role {role!r}; use one of: {', '.join(ROLES)}", EXIT_CONFIG)
    s = settings()
    for acl, command in zip(declared(role, s), kafka_acls_commands(role, principal, s), strict=True):
        typer.echo(f"# {acl.why}\n{command}")
