"""The routes file and the published JSON Schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import typer

from ..settings import ConfigError
from .common import EXIT_CONFIG, fail

routes_app = typer.Typer(no_args_is_help=True, help="The routes file: receivers and the route tree.")
schemas_app = typer.Typer(no_args_is_help=True, help="The published JSON Schemas and Avro schemas.")


@routes_app.command("check")
def routes_check(
    path: Path = typer.Argument(..., help="Routes YAML"),
    show: bool = typer.Option(False, "--show", help="Print the configuration as loaded, secrets masked"),
) -> None:
    """Validate a routes file and read its secrets (never printed)."""
    import json

    from ..delivery.config import RoutesError, load

    try:
        routes = load(path)
    except RoutesError as exc:
        fail(str(exc), EXIT_CONFIG)
    if show:
        typer.echo(json.dumps(routes.dump(), indent=2))
    kinds = ", ".join(f"{name} ({r.spec.kind})" for name, r in routes.receivers.items())
    typer.echo(f"{path}: valid; receivers: {kinds}")


@routes_app.command("test")
def routes_test(
    path: Path = typer.Argument(..., help="Routes YAML"),
    receiver: str = typer.Argument(..., help="The receiver's name in it"),
    trigger_type: str = typer.Option(
        "datasource.refresh.failed", "--type", help="The sample's trigger type, by its short name"
    ),
) -> None:
    """Send the receiver one sample trigger event, rendered and signed as real ones, once (no retries), and show
    its answer. The event's id starts with 'test-' and it carries the CloudEvents extension 'cdptest: true'.
    Exit code 1 when the receiver did not take it."""
    import asyncio
    from datetime import UTC, datetime

    import aiohttp
    import orjson

    from schemas.triggers import TriggerType, event_for_test_send

    from ..delivery.config import RoutesError, load
    from ..delivery.deliver import ONCE, Delivery, deliver
    from ..delivery.receivers import make_sender

    try:
        kind = TriggerType.from_short(trigger_type)
    except ValueError as exc:
        fail(f"--type {exc}", EXIT_CONFIG)
    try:
        routes = load(path)
    except RoutesError as exc:
        fail(str(exc), EXIT_CONFIG)
    if receiver not in routes.receivers:
        fail(f"RECEIVER {receiver!r}: not in {path}; it has {', '.join(sorted(routes.receivers))}", EXIT_CONFIG)
    event = event_for_test_send(kind, "/cdp-triggers/routes-test", datetime.now(UTC))

    async def send() -> Delivery:
        async with aiohttp.ClientSession(headers={"User-Agent": "cdp-triggers"}) as session:
            sender = make_sender(routes.receivers[receiver], session)
            return await deliver(sender, event, orjson.dumps(event), policy=ONCE)

    outcome = asyncio.run(send())
    said = "delivered" if outcome.failure is None else "not delivered"
    last = outcome.last
    typer.echo(f"{receiver}: {said}" + (f" ({last.result}): {last.detail}" if last else ""))
    typer.echo(f"test event {event['id']} ({trigger_type})")
    if outcome.failure is not None:
        raise typer.Exit(1)


@schemas_app.command("export")
def schemas_export(
    directory: Path = typer.Argument(Path("schemas/json")),
    avro_directory: Path = typer.Option(Path("schemas/avro"), "--avro-dir", help="Where the Avro schemas go"),
) -> None:
    """Write the JSON Schema of every event model and the API's OpenAPI document into DIRECTORY, and the Avro
    schema of each input kind into --avro-dir."""
    import json

    from schemas.export import write, write_avro

    for path in write_avro(avro_directory):
        typer.echo(path)
    from ..api.app import openapi_document

    for path in write(directory):
        typer.echo(path)
    path = directory / "openapi.json"
    path.write_text(json.dumps(openapi_document(), indent=2) + "\n")
    typer.echo(path)


FORMATS = {"avro": "AVRO", "json": "JSON"}


@schemas_app.command("register")
def schemas_register(
    format: str = typer.Option("avro", "--format", help="avro or json: which published schemas to register"),
    compatibility: str = typer.Option(
        "BACKWARD", "--compatibility", help="The subjects' level: BACKWARD, FORWARD, FULL (each _TRANSITIVE too), NONE"
    ),
) -> None:
    """Register each input kind's published schema in the Schema Registry (CDP_SCHEMA_REGISTRY_URL) under its
    topic's subject, <topic>-value, after setting the subject's compatibility level. Run again, it changes
    nothing; a refused schema is reported with the registry's message (exit 1)."""
    import asyncio

    from ..client.schemas import register
    from ..kafka.schema_registry import Incompatible, Level, RegistryError
    from .common import settings

    schema_type = _format(format)
    level = compatibility.upper()
    if level not in get_args(Level):
        fail(f"--compatibility: {compatibility!r} is not a level; use one of {', '.join(get_args(Level))}", EXIT_CONFIG)
    try:
        done = asyncio.run(register(settings(), schema_type, level))  # type: ignore[arg-type]  # checked just above
    except ConfigError as exc:  # no registry URL, or its CA or credentials file unreadable
        fail(str(exc), EXIT_CONFIG)
    except Incompatible as exc:
        fail(f"the registry refused a schema as incompatible under {level}: {exc}")
    except RegistryError as exc:
        fail(str(exc))
    for outcome in done:
        if outcome.changed:
            typer.echo(f"{outcome.subject}: registered ({format}, id {outcome.id}), compatibility {level}")
        else:
            typer.echo(
                f"{outcome.subject}: unchanged (version {outcome.version}, id {outcome.id}), compatibility {level}"
            )


@schemas_app.command("check")
def schemas_check(
    kind: str = typer.Argument(..., help="datasource, segment, measure or run"),
    path: Path = typer.Argument(..., help="The schema a producer plans: .avsc (Avro) or .json (JSON Schema)"),
) -> None:
    """Tell whether the registry would take PATH as the next schema of KIND's subject (exit 0), or not, with the
    registry's reasons (exit 1): for a producer's CI."""
    import asyncio

    from ..client.producer import CHANGE_KINDS
    from ..client.schemas import check, subject
    from ..kafka.schema_registry import RegistryError
    from .common import settings

    if kind not in CHANGE_KINDS:
        fail(f"KIND: {kind!r} is not an input kind; use one of {', '.join(CHANGE_KINDS)}", EXIT_CONFIG)
    if path.suffix not in (".avsc", ".json") or not path.is_file():
        fail(f"PATH: {path} is not an .avsc or .json file", EXIT_CONFIG)
    s = settings()
    try:
        ok, reasons = asyncio.run(
            check(s, CHANGE_KINDS[kind], path.read_text(), "AVRO" if path.suffix == ".avsc" else "JSON")
        )
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except RegistryError as exc:
        fail(str(exc))
    name = subject(s, CHANGE_KINDS[kind])
    if not ok:
        fail(f"{path} is not compatible with {name}: " + ("; ".join(reasons) or "the registry gave no reason"))
    typer.echo(f"{path}: compatible with {name}")


def _format(name: str) -> Literal["AVRO", "JSON"]:
    if name not in FORMATS:
        fail(f"--format: {name!r}; use avro or json", EXIT_CONFIG)
    return FORMATS[name]  # type: ignore[return-value]  # the two values of FORMATS
