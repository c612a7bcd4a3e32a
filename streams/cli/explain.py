"""``cdp-triggers explain``: what the worker that owns an entity, data source or run decided, and why."""

from __future__ import annotations

import typer

from .common import EXIT_CONFIG, fail, run, settings


def explain(
    kind: str = typer.Argument(..., help="segment, measure, data-source, run or subscription"),
    ident: str = typer.Argument(..., metavar="ID", help="Its id, as in its change events"),
    as_json: bool = typer.Option(False, "--json", help="The worker's answer as one JSON object"),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds to wait for the owning worker's answer"),
) -> None:
    """Ask the worker that owns it: a segment's or measure's latest value and each subscription's state (armed,
    waiting to re-arm, waiting for a baseline), a run's tasks, what it waits for and when it stalls, a data
    source's latest refreshes; for a subscription, its entity's value and its own state. Exit code 1 when no
    worker answered in time."""
    from ..client.explain import KINDS, NoAnswer, explain_subscription, render
    from ..client.explain import explain as ask
    from ..topics import Topics
    from ..worker.registry import load_once

    if kind not in (*KINDS, "subscription"):
        fail(f"KIND {kind!r}: must be one of {', '.join(KINDS)}, subscription", EXIT_CONFIG)
    if timeout <= 0:
        fail(f"--timeout {timeout:g}: must be more than 0", EXIT_CONFIG)
    s = settings()
    try:
        if kind == "subscription":
            found = run(lambda: load_once(s, Topics(s).subscriptions)).get(ident)
            if found is None:
                fail(f"no subscription {ident!r} (see 'cdp-triggers subscriptions list')")
            reply = run(lambda: explain_subscription(s, found, timeout))
            kind, ident = found.entity_kind, found.entity_id
        elif kind in KINDS:
            reply = run(lambda: ask(s, kind, ident, timeout))
    except NoAnswer as exc:
        fail(str(exc))
    if as_json:
        typer.echo(reply.model_dump_json(indent=2))
        return
    typer.echo("\n".join(render(kind, ident, reply.model_dump(mode="json"))))
