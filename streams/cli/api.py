"""The triggers API and its keys."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import EXIT_CONFIG, fail, run, say, settings

keys_app = typer.Typer(no_args_is_help=True, help="API keys of the triggers API (on the compacted api-keys topic).")


def api() -> None:
    """Run the triggers API (HTTP, on CDP_API_HOST:CDP_API_PORT)."""
    from ..kafka.clients import ConnectionProblem

    s = settings()
    try:
        if s.hook_key() is None:
            fail(
                "CDP_HOOK_SIGNING_KEY (or CDP_HOOK_SIGNING_KEY_FILE) is not set: the API derives each hook's "
                "signing secret from it. Hint: 'openssl rand -base64 48'.",
                EXIT_CONFIG,
            )
    except ValueError as exc:
        fail(str(exc), EXIT_CONFIG)
    from ..api.serve import serve

    try:
        run(lambda: serve(s, say))
    except ConnectionProblem as exc:
        fail(f"{exc}.", EXIT_CONFIG if exc.configuration else 1)


def connector(
    directory: Path = typer.Argument(Path("connectors/power-automate")),
    host: str = typer.Option("cdp-triggers.example.com", "--host", help="Where Power Automate reaches the API"),
) -> None:
    """Write the Power Automate custom connector (apiDefinition.swagger.json, apiProperties.json) for HOST."""
    from ..api.connector import write

    for path in write(directory, host):
        typer.echo(path)


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., help="Who or what uses it, e.g. power-automate-marketing"),
    scope: str = typer.Option(
        "write",
        "--scope",
        help="read (GET only), write (subscriptions and hooks), operate (dead letters and redeliveries), publish "
        "(change events only) or admin (everything, and the other keys: from the API and console too)",
    ),
) -> None:
    """Create a key and print it, once: only its hash is stored."""
    from pydantic import ValidationError

    from schemas.apikeys import issue

    from .common import one_line

    try:
        record, full = issue(name, scope)  # type: ignore[arg-type]  # validated by the model, naming the field
    except ValidationError as exc:
        fail(one_line(exc), EXIT_CONFIG)
    _put(record.key_id, record.stored())
    say(f"API key {record.key_id} ({name}, scope {scope}) created; it is shown only now:")
    typer.echo(full)


@keys_app.command("list")
def keys_list() -> None:
    """List the keys (ids, names, scopes; never a secret)."""
    for key in sorted(_load(), key=lambda k: k.created_at):
        typer.echo(f"{key.key_id}  {key.scope:<7}  {key.created_at:%Y-%m-%d %H:%M}  {key.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(...)) -> None:
    """Revoke a key: the API refuses it once it has read the tombstone (within a second or so)."""
    if not any(k.key_id == key_id for k in _load()):
        fail(f"no API key {key_id!r}. Hint: 'cdp-triggers api-keys list'.")
    _put(key_id, None)
    typer.echo(f"API key {key_id} revoked")


def _put(key_id: str, value: bytes | None) -> None:
    from ..client.producer import EventProducer

    s = settings()

    async def go() -> None:
        async with EventProducer(s) as producer:
            await producer.put_record(producer.topics.api_keys, key_id, value)

    run(go)


def _load():
    from schemas.apikeys import ApiKey

    from ..kafka.compacted import CompactedView, Records
    from ..topics import Topics

    s = settings()
    keys: Records[ApiKey] = Records(ApiKey, lambda k: k.key_id, s.max_event_bytes)

    async def go() -> None:
        view = CompactedView(s, Topics(s).api_keys, keys.apply)
        await view.load()
        await view.close()

    run(go)
    return list(keys)
