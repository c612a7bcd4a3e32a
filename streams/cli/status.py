"""``cdp-triggers status``: one screen answering "is it working?", and an exit code a cron check can use."""

from __future__ import annotations

import json

import typer

from .common import EXIT_CONFIG, fail, run, settings


def status(
    as_json: bool = typer.Option(False, "--json", help="The whole report as one JSON object"),
    window: float = typer.Option(
        3600.0, "--window", help="Seconds counted back for triggers, dead letters, deliveries"
    ),
    sample: float = typer.Option(5.0, "--sample", help="Seconds between the two looks at the consumer groups"),
    probe: list[str] = typer.Option(
        None, "--probe", help="A process's readiness URL (…/readyz), repeatable: not ready needs attention"
    ),
    max_lag: int = typer.Option(10_000, "--max-lag", help="A group whose lag grows past this needs attention"),
    dead_letter_burst: int = typer.Option(
        10, "--dead-letter-burst", help="More unreplayed dead letters than this in the window need attention"
    ),
) -> None:
    """Consumer groups (members, partitions, lag), registries, triggers, dead letters and deliveries of the last
    hour, the oldest undelivered trigger. Exit code 1 when something needs attention."""
    from ..client import snapshot
    from ..client.status import Limits, attention, render, report

    for name, value in (("--window", window), ("--sample", sample)):
        if value <= 0:
            fail(f"{name} {value:g}: must be more than 0", EXIT_CONFIG)
    s = settings()
    taken = run(lambda: snapshot.take(s, window, sample, list(probe or [])))
    needs = attention(taken, Limits(max_lag=max_lag, dead_letter_burst=dead_letter_burst))
    r = report(taken, needs)
    typer.echo(json.dumps(r, indent=2) if as_json else "\n".join(render(r)))
    if needs:
        raise typer.Exit(1)
