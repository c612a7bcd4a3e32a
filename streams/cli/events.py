"""Publishing change events and following trigger events."""

from __future__ import annotations

import contextlib
import sys
import time

import typer

from .common import EXIT_CONFIG, fail, one_line, run, settings


def publish(
    kind: str = typer.Argument(..., help="datasource, segment, measure or run"),
    document: str = typer.Argument("", help="The event as JSON; '-' reads one event per line from stdin"),
    field: list[str] = typer.Option(
        [], "--set", "-s", help="field=value (value parsed as JSON if it can be), repeatable"
    ),
    format: str = typer.Option(
        "json",
        "--format",
        help="json, or json-sr / avro: JSON or Avro in a Schema Registry frame (CDP_SCHEMA_REGISTRY_URL), the "
        "published schema registered under the topic's subject",
    ),
) -> None:
    """Validate and publish change events, from JSON or --set flags.
    event_id and event_time default to a new id and now."""
    import json

    from pydantic import ValidationError

    from ..client.documents import assign, with_defaults
    from ..client.producer import CHANGE_KINDS, FORMATS, EventProducer, encoded
    from ..kafka.schema_registry import RegistryError

    if kind not in CHANGE_KINDS:
        fail(f"unknown kind {kind!r}; use one of: {', '.join(CHANGE_KINDS)}", EXIT_CONFIG)
    if format not in FORMATS:
        fail(f"--format: {format!r}; use one of {', '.join(FORMATS)}", EXIT_CONFIG)
    adapter = CHANGE_KINDS[kind].adapter()
    s = settings()

    def build(text: str, line: int | None) -> object:
        where = f"line {line}: " if line else ""
        try:
            doc = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            fail(f"{where}not JSON: {exc}", EXIT_CONFIG)
        try:
            event = adapter.validate_python(with_defaults(assign(doc, field)))
            encoded(event, s.max_event_bytes)  # the worker's limit, checked before anything is sent
            return event
        except ValidationError as exc:
            fail(f"{where}invalid {kind} event: {one_line(exc)}", EXIT_CONFIG)
        except ValueError as exc:  # --set syntax, or too large
            fail(f"{where}{exc}", EXIT_CONFIG)

    texts = list(sys.stdin) if document == "-" else [document]
    built = [build(text, i + 1 if document == "-" else None) for i, text in enumerate(texts) if text.strip() or field]

    if format != "json" and not s.schema_registry_url:
        fail(f"--format {format} needs CDP_SCHEMA_REGISTRY_URL, the Schema Registry's URL", EXIT_CONFIG)

    async def go() -> None:
        async with EventProducer(s, format=format) as producer:
            for event in built:
                await producer.publish(event)  # type: ignore[arg-type]  # validated by the kind's model just above

    try:
        run(go)
    except RegistryError as exc:
        fail(str(exc))
    typer.echo(f"published {len(built)} {kind} event{'s' if len(built) != 1 else ''}")


def tail(
    as_json: bool = typer.Option(False, "--json", help="Print each trigger event as one JSON line"),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest retained trigger"),
    limit: int = typer.Option(0, "--limit", help="Stop after this many triggers (0: never)"),
    idle: float = typer.Option(0, "--idle", help="Stop after this many seconds without a trigger (0: never)"),
) -> None:
    """Follow the actions topic: one line per trigger event (type, entity, values, age)."""
    s = settings()

    async def go() -> None:
        from contextlib import aclosing

        from schemas.triggers import TriggerEvent

        from ..client import liveview
        from ..client.follow import trigger_records

        console = liveview.console()
        shown, last = 0, time.monotonic()
        async with aclosing(trigger_records(s, from_beginning=from_beginning)) as batches:
            async for batch in batches:
                for value in batch[: limit - shown] if limit else batch:
                    if as_json:
                        typer.echo(value.decode())
                    else:
                        console.print(liveview.line(TriggerEvent.model_validate_json(value)))
                    shown, last = shown + 1, time.monotonic()
                if (limit and shown >= limit) or (idle and time.monotonic() - last > idle):
                    return

    with contextlib.suppress(KeyboardInterrupt):
        run(go)
