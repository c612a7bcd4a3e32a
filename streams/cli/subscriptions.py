"""Threshold subscriptions, on the compacted subscriptions topic."""

from __future__ import annotations

from pathlib import Path

import typer

from ..settings import Settings
from .common import EXIT_CONFIG, fail, one_line, run, settings

subs_app = typer.Typer(no_args_is_help=True, help="Threshold subscriptions (on the compacted subscriptions topic).")


@subs_app.command("apply")
def subs_apply(path: Path = typer.Argument(..., help="YAML file: subscriptions: [...]")) -> None:
    """Add or update every subscription in a YAML file."""
    from ..client.producer import EventProducer, SubscriptionFileError, encoded, read_subscription_file
    from ..kafka.codec import TooLarge

    s = settings()
    try:
        subs = read_subscription_file(path)
        for sub in subs:
            encoded(sub, s.max_event_bytes)  # every one fits before any is written
    except SubscriptionFileError as exc:
        fail(str(exc), EXIT_CONFIG)
    except TooLarge as exc:
        fail(f"{path}: {exc}", EXIT_CONFIG)

    async def go() -> None:
        async with EventProducer(s) as producer:
            for sub in subs:
                await producer.put_subscription(sub)

    run(go)
    typer.echo(f"applied {len(subs)} subscriptions")


@subs_app.command("add")
def subs_add(
    subscription_id: str = typer.Argument(...),
    kind: str = typer.Option(..., "--kind", help="segment or measure"),
    entity: str = typer.Option(..., "--entity", help="segment or measure id"),
    threshold: float = typer.Option(..., "--threshold"),
    recovery: float | None = typer.Option(None, "--recovery", help="re-arm below this (default: threshold)"),
    owner: str = typer.Option(..., "--owner"),
    label: list[str] = typer.Option([], "--label", help="key=value, repeatable"),
) -> None:
    """Add or update one subscription."""
    from pydantic import ValidationError

    from schemas.subscriptions import ThresholdSubscription

    from ..client.producer import EventProducer, encoded
    from ..kafka.codec import TooLarge

    s = settings()
    try:
        labels = dict(item.split("=", 1) for item in label)
        sub = ThresholdSubscription(
            subscription_id=subscription_id,
            entity_kind=kind,
            entity_id=entity,
            threshold=threshold,
            recovery_threshold=recovery,
            owner=owner,
            labels=labels,
        )
        encoded(sub, s.max_event_bytes)
    except TooLarge as exc:
        fail(str(exc), EXIT_CONFIG)
    except ValueError as exc:
        fail(one_line(exc) if isinstance(exc, ValidationError) else f"label: {exc}", EXIT_CONFIG)

    async def go() -> None:
        async with EventProducer(s) as producer:
            await producer.put_subscription(sub)

    run(go)
    typer.echo(f"subscription {subscription_id} saved")


@subs_app.command("remove")
def subs_remove(subscription_id: str = typer.Argument(...)) -> None:
    """Remove a subscription (writes a tombstone)."""
    from ..client.producer import EventProducer

    s = settings()
    if _load(s).get(subscription_id) is None:
        fail(f"no subscription {subscription_id!r}. Hint: 'cdp-triggers subscriptions list'.")

    async def go() -> None:
        async with EventProducer(s) as producer:
            await producer.remove_subscription(subscription_id)

    run(go)
    typer.echo(f"subscription {subscription_id} removed")


@subs_app.command("list")
def subs_list(as_json: bool = typer.Option(False, "--json", help="One JSON object per line")) -> None:
    """List the active subscriptions."""
    for sub in sorted(_load(settings()).all(), key=lambda s: s.subscription_id):
        if as_json:
            typer.echo(sub.model_dump_json())
        else:
            rearm = "" if sub.recovery_threshold is None else f" (re-arm < {sub.recovery_threshold:g})"
            typer.echo(f"{sub.subscription_id:<24} {sub.entity_key:<40} >= {sub.threshold:g}{rearm}  {sub.owner}")


def _load(s: Settings):
    from ..topics import Topics
    from ..worker.registry import load_once

    return run(lambda: load_once(s, Topics(s).subscriptions))
