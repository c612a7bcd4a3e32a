"""``cdp-triggers deliveries``: the deliveries receivers did not take, and sending them again."""

from __future__ import annotations

import getpass
import json
import socket
import time
from datetime import UTC, datetime

import typer

from .common import EXIT_CONFIG, fail, run, settings, when

deliveries_app = typer.Typer(
    no_args_is_help=True, help="Deliveries: every attempt, and the given-up ones: list, show and redeliver."
)


def _type(text: str | None):
    from schemas.triggers import TriggerType

    if text is None:
        return None
    try:
        return TriggerType.from_short(text)
    except ValueError as exc:
        fail(f"--type {exc}", EXIT_CONFIG)


def _reason(text: str | None):
    from schemas.deadletter import DeliveryFailure

    if text is None:
        return None
    try:
        return DeliveryFailure(text)
    except ValueError:
        fail(f"--reason {text!r}: use one of {', '.join(r.value for r in DeliveryFailure)}", EXIT_CONFIG)


def _load(s):
    from ..client import operations

    return run(lambda: operations.given_up(s))


def _age(d) -> str:
    seconds = max(0, int((datetime.now(UTC) - d.dead_lettered_at).total_seconds()))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


@deliveries_app.command("list")
def deliveries_list(
    receiver: str | None = typer.Option(None, "--receiver", help="Only those of this receiver (hook:<id> for a hook)"),
    reason: str | None = typer.Option(None, "--reason", help="rejected, exhausted, expired or no_recipients"),
    since: str | None = typer.Option(None, "--since", help="Given up at or after this ISO 8601 time"),
    until: str | None = typer.Option(None, "--until", help="Given up before this ISO 8601 time"),
    trigger_type: str | None = typer.Option(None, "--type", help="Only triggers of this type (short name)"),
    undelivered: bool = typer.Option(False, "--undelivered", help="Only those not delivered since"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
) -> None:
    """Deliveries given up, oldest first: receiver, reason, attempts, last error, age, and whether delivered since."""
    from ..client.deliveries import Choice, select

    letters, delivered = _load(settings())
    chosen = select(
        letters,
        Choice((), receiver, _reason(reason), when(since, "--since"), when(until, "--until"), _type(trigger_type)),
    )
    if undelivered:
        chosen = [d for d in chosen if d.id not in delivered]
    for d in chosen:
        status = "delivered since" if d.id in delivered else "undelivered"
        if as_json:
            typer.echo(json.dumps({**d.model_dump(mode="json", exclude={"event"}), "status": status}))
        else:
            typer.echo(
                f"{d.id:<58} {d.receiver_type:<7} {d.reason.value:<10} {d.attempts:>2}x {_age(d):>7}  {status:<15} "
                f"{d.error[:60]}"
            )
    if not as_json:
        waiting = sum(d.id not in delivered for d in chosen)
        typer.echo(f"{len(chosen)} given up, {waiting} undelivered")


@deliveries_app.command("show")
def deliveries_show(delivery_id: str = typer.Argument(..., help="<trigger id>|<receiver>, as 'list' shows")) -> None:
    """One given-up delivery, with its trigger event."""
    letters, delivered = _load(settings())
    found = [d for d in letters if d.id == delivery_id]
    if not found:
        fail(f"no given-up delivery {delivery_id!r}. Hint: 'cdp-triggers deliveries list'.")
    shown = {**found[0].model_dump(mode="json"), "delivered_since": delivery_id in delivered}
    typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@deliveries_app.command("redeliver")
def deliveries_redeliver(
    ids: list[str] = typer.Argument(None, help="Delivery ids (default: all that match the options)"),
    receiver: str | None = typer.Option(None, "--receiver", help="Only those of this receiver"),
    reason: str | None = typer.Option(None, "--reason", help="Only those given up for this reason"),
    since: str | None = typer.Option(None, "--since", help="Given up at or after this ISO 8601 time"),
    until: str | None = typer.Option(None, "--until", help="Given up before this ISO 8601 time"),
    trigger_type: str | None = typer.Option(None, "--type", help="Only triggers of this type (short name)"),
    by: str | None = typer.Option(None, "--by", help="Who asks, for the record (default: user@host)"),
    wait: float = typer.Option(60.0, "--wait", help="Seconds to wait for the outcomes (0: ask and return)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be redelivered, and how many; ask nothing"),
) -> None:
    """Ask the dispatchers to send given-up deliveries again, with the same webhook id; what was delivered
    since is not sent again. Exit code 1 when one failed again or is still pending after --wait."""
    from ..client import operations
    from ..client.deliveries import Choice, ChoiceError, outcome

    s = settings()
    choice = Choice(
        tuple(ids or ()), receiver, _reason(reason), when(since, "--since"), when(until, "--until"), _type(trigger_type)
    )
    asked = datetime.now(UTC)
    try:
        who = by or f"{getpass.getuser()}@{socket.gethostname()}"
        todo = run(lambda: operations.redeliver(s, choice, who, dry_run))
    except ChoiceError as exc:
        fail(f"{exc}. Hint: 'cdp-triggers deliveries list'.", EXIT_CONFIG)
    for d in todo.delivered:
        typer.echo(f"{d.id}: delivered already; not sent again")
    if not todo.requests:
        typer.echo(f"nothing to redeliver ({len(todo.delivered)} delivered already)")
        return
    if dry_run:
        for _, request in todo.requests:
            typer.echo(f"{request.delivery_dead_letter_id}: would be redelivered")
        typer.echo(f"{len(todo.requests)} would be redelivered (--dry-run: nothing asked)")
        return
    typer.echo(f"asked the dispatcher to redeliver {len(todo.requests)}")
    if wait <= 0:
        return
    asked_for = {r.delivery_dead_letter_id for _, r in todo.requests}
    deadline = time.monotonic() + wait
    while True:
        letters, delivered = _load(s)
        newest = {d.id: d for d in letters}
        outcomes = {i: outcome(i, delivered, newest.get(i), asked) for i in asked_for}
        if all(o != "pending" for o in outcomes.values()) or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    for i, o in sorted(outcomes.items()):
        typer.echo(f"{i}: {o}")
    counts = {k: sum(o.startswith(k) for o in outcomes.values()) for k in ("delivered", "failed", "pending")}
    typer.echo(f"{counts['delivered']} delivered, {counts['failed']} failed again, {counts['pending']} pending")
    if counts["failed"] or counts["pending"]:
        raise typer.Exit(1)


@deliveries_app.command("attempts")
def deliveries_attempts(
    receiver: str | None = typer.Option(None, "--receiver", help="Only this receiver's (hook:<id> for a hook)"),
    trigger: str | None = typer.Option(None, "--trigger", help="Only the attempts for this trigger id"),
    window: float = typer.Option(3600.0, "--window", help="Seconds counted back (the topic keeps a week)"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line"),
) -> None:
    """Every delivery attempt of the window, oldest first: receiver, trigger, attempt number, outcome, the
    receiver's answer, latency and when the next attempt is due; then each receiver's health over the window
    (delivered, retried, given up)."""
    from datetime import timedelta

    from ..client import operations
    from ..client.deliveries import attempt_line, receiver_health

    if window <= 0:
        fail(f"--window {window:g}: must be more than 0", EXIT_CONFIG)
    s = settings()
    chosen = run(lambda: operations.attempts(s, datetime.now(UTC) - timedelta(seconds=window), receiver, trigger))
    if as_json:
        for a in chosen:
            typer.echo(a.model_dump_json())
        return
    for a in chosen:
        typer.echo(attempt_line(a))
    for name, counts in sorted(receiver_health(chosen).items()):
        typer.echo(
            f"{name}: {counts['delivered']} delivered, {counts['retried']} retried, {counts['given_up']} given up"
        )
    if not chosen:
        typer.echo(
            f"no delivery attempt in the last {window:g} s" + (" matching the options" if receiver or trigger else "")
        )
