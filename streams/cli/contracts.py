"""The routes file and the published JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import typer

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
