"""The routes file and the published JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import EXIT_CONFIG, fail

routes_app = typer.Typer(no_args_is_help=True, help="The routes file: receivers and the route tree.")
schemas_app = typer.Typer(no_args_is_help=True, help="The published JSON Schemas.")


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


@schemas_app.command("export")
def schemas_export(directory: Path = typer.Argument(Path("schemas/json"))) -> None:
    """Write the JSON Schema of every event model, and the API's OpenAPI document, into DIRECTORY."""
    import json

    from schemas.export import write

    from ..api.app import openapi_document

    for path in write(directory):
        typer.echo(path)
    path = directory / "openapi.json"
    path.write_text(json.dumps(openapi_document(), indent=2) + "\n")
    typer.echo(path)
