"""The long-running processes: worker and dispatcher; and the topics they use."""

from __future__ import annotations

from pathlib import Path

import typer

from ..settings import Settings
from .common import EXIT_CONFIG, ensure_topics, fail, say, settings

topics_app = typer.Typer(no_args_is_help=True, help="The pipeline's Kafka topics.")


def _launch(s: Settings, role: str, build, prepare=None) -> None:
    from ..acls import topics_of
    from ..runtime.kafka import ConnectionProblem, MissingTopicsError
    from ..runtime.launch import LaunchError, run
    from ..settings import ConfigError

    group = s.app_id if role == "worker" else s.dispatcher_app_id
    try:
        run(s, group, topics_of(role, s), build, say, prepare)  # type: ignore[arg-type]  # role: a Role, checked by the caller
    except LaunchError as exc:
        fail(str(exc))
    except ConnectionProblem as exc:
        if exc.configuration:
            fail(f"{exc}.", EXIT_CONFIG)
        fail(f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start'.")
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except MissingTopicsError as exc:
        fail(
            f"{exc}. Hint: on a secured cluster the principal may lack Describe on it; "
            f"'cdp-triggers acls {role}' prints what the {role} needs."
        )


def worker(
    with_dispatcher: bool = typer.Option(
        False,
        "--with-dispatcher",
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
        prepare = lambda pipeline: supervise_dispatcher(pipeline, s, say)  # noqa: E731
    _launch(s, "worker", lambda: create_app(s), prepare)


def dispatcher() -> None:
    """Run the dispatcher: deliver trigger events to the receivers of CDP_ROUTES_FILE and the API's hooks."""
    from ..delivery.app import create_dispatcher

    s = settings()
    loaded = routes(s)
    say(f"routes from {loaded.source}: {len(loaded.receivers)} receivers ({', '.join(loaded.receivers)})")
    say("API hooks: " + ("followed" if s.hook_key() else "off (CDP_HOOK_SIGNING_KEY is not set)"))
    _launch(s, "dispatcher", lambda: create_dispatcher(s, loaded))


def routes(s: Settings):
    """The dispatcher's routes; checks the hook signing key too, so a bad one fails before anything starts."""
    from ..delivery.config import Routes

    try:
        hooks = s.hook_key() is not None
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    if s.routes_file is None:
        if hooks:
            return Routes.empty()
        fail(
            "neither CDP_ROUTES_FILE nor CDP_HOOK_SIGNING_KEY is set, so no trigger could be delivered. Hint: "
            "point CDP_ROUTES_FILE at a routes YAML (see examples/routes.yaml), or set a signing key to deliver "
            "to the API's hooks.",
            EXIT_CONFIG,
        )
    return load_routes(s.routes_file)


def load_routes(path: Path):
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


def acls(
    role: str = typer.Argument(..., help="worker, dispatcher, producer (publish, subscriptions) or viewer (tail)"),
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
