"""``cdp-triggers dead-letters``: see what the workers rejected and why, and replay it, fixed or as it was."""

from __future__ import annotations

import getpass
import json
import socket
import sys
from pathlib import Path

import typer

from .common import EXIT_CONFIG, fail, run, settings, when

dead_letters_app = typer.Typer(no_args_is_help=True, help="Rejected input: list, show and replay dead letters.")


def _reason(text: str | None):
    from schemas.deadletter import DeadLetterReason

    if text is None:
        return None
    try:
        return DeadLetterReason(text)
    except ValueError:
        fail(f"--reason {text!r}: use one of {', '.join(r.value for r in DeadLetterReason)}", EXIT_CONFIG)


def _load(s):
    from ..client import operations

    async def go():
        return await operations.dead_letters(s), await operations.history(s)

    return run(go)


@dead_letters_app.command("list")
def dl_list(
    topic: str | None = typer.Option(None, "--topic", help="Only those from this input topic"),
    reason: str | None = typer.Option(None, "--reason", help="not_json, not_utf8, schema, oversized or empty"),
    since: str | None = typer.Option(None, "--since", help="Dead-lettered at or after this ISO 8601 time"),
    until: str | None = typer.Option(None, "--until", help="Dead-lettered before this ISO 8601 time"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, with its replays"),
) -> None:
    """The dead letters, oldest first, with counts by reason."""
    from ..client.deadletters import Choice, counts_by_reason, select

    letters, history = _load(settings())
    chosen = select(letters, Choice((), _reason(reason), topic, when(since, "--since"), when(until, "--until")))
    for d in chosen:
        replays = history.get(d.id, [])
        if as_json:
            record = {**d.model_dump(mode="json"), "replays": [r.model_dump(mode="json") for r in replays]}
            typer.echo(json.dumps(record))
        else:
            replayed = f"  replayed {len(replays)}x" if replays else ""
            at = d.dead_lettered_at.isoformat(timespec="seconds")
            typer.echo(f"{d.id:<44} {at}  {d.reason.value:<9} {d.error[:70]}{replayed}")
    if not as_json:
        counts = ", ".join(f"{n} {reason}" for reason, n in counts_by_reason(chosen).items())
        typer.echo(f"{len(chosen)} dead letters" + (f": {counts}" if counts else ""))


@dead_letters_app.command("show")
def dl_show(dead_letter_id: str = typer.Argument(..., help="<topic>/<partition>/<offset>, as 'list' shows")) -> None:
    """One dead letter: the reason, the error, and the original key and value decoded where possible."""
    from ..client.deadletters import original, readable

    letters, history = _load(settings())
    found = [d for d in letters if d.id == dead_letter_id]
    if not found:
        fail(f"no dead letter {dead_letter_id!r}. Hint: 'cdp-triggers dead-letters list'.")
    d = found[0]
    key, value = original(d)
    shown = {
        "id": d.id,
        "reason": d.reason.value,
        "error": d.error,
        "topic": d.topic,
        "partition": d.partition,
        "offset": d.offset,
        "dead_lettered_at": d.dead_lettered_at.isoformat(),
        "key": readable(key),
        "value": readable(value),
        "replays": [r.model_dump(mode="json") for r in history.get(d.id, [])],
    }
    typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@dead_letters_app.command("replay")
def dl_replay(
    ids: list[str] = typer.Argument(None, help="Dead-letter ids (default: all that match the options)"),
    reason: str | None = typer.Option(None, "--reason", help="Only those rejected for this reason"),
    topic: str | None = typer.Option(None, "--topic", help="Only those from this input topic"),
    since: str | None = typer.Option(None, "--since", help="Dead-lettered at or after this ISO 8601 time"),
    until: str | None = typer.Option(None, "--until", help="Dead-lettered before this ISO 8601 time"),
    fix: str | None = typer.Option(
        None, "--fix", help='JSON lines {"dead_letter_id": ..., "event": {...}}: the corrected events ("-": stdin)'
    ),
    force: bool = typer.Option(False, "--force", help="Replay again what was replayed before, as new events"),
    by: str | None = typer.Option(None, "--by", help="Who replays, for the record (default: user@host)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and show what would be published; publish nothing"),
) -> None:
    """Publish chosen dead letters again on their topics, validated first: all of them, or nothing."""
    from ..client import operations
    from ..client.deadletters import Choice, ChoiceError, ReplayRefused, read_fixes

    s = settings()
    fixes: dict[str, bytes] = {}
    if fix is not None:
        try:
            text = sys.stdin.read() if fix == "-" else Path(fix).read_text()
            fixes = read_fixes(text, "stdin" if fix == "-" else fix)
        except OSError as exc:
            fail(f"--fix {fix}: {exc.strerror}", EXIT_CONFIG)
        except ValueError as exc:
            fail(f"--fix: {exc}", EXIT_CONFIG)
    choice = Choice(tuple(ids or ()), _reason(reason), topic, when(since, "--since"), when(until, "--until"))
    who = by or f"{getpass.getuser()}@{socket.gethostname()}"
    try:
        prepared = run(lambda: operations.replay(s, choice, fixes, who, force, dry_run))
    except ChoiceError as exc:
        fail(f"{exc}. Hint: 'cdp-triggers dead-letters list'.", EXIT_CONFIG)
    except ReplayRefused as exc:
        fail(f"nothing replayed; {len(exc.problems)} cannot be:\n  " + "\n  ".join(exc.problems), EXIT_CONFIG)
    if not prepared:
        typer.echo("no dead letter matches; nothing replayed")
        return
    for p in prepared:
        typer.echo(f"{p.letter.id} -> {p.topic} key {p.key.decode()} event {p.replay.event_id}")
    if dry_run:
        typer.echo(f"{len(prepared)} would be replayed (--dry-run: nothing published)")
        return
    typer.echo(f"{len(prepared)} replayed, recorded as by {who}")
