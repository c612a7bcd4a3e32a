"""``cdp-triggers``: the one command-line entry point. Each module here is a
thin set of typer commands over the packages below it; no logic of its own."""

from __future__ import annotations

import typer

from . import api, events, explain, processes, status
from .contracts import routes_app, schemas_app
from .deadletters import dead_letters_app
from .deliveries import deliveries_app
from .subscriptions import subs_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Self-hosted CDP trigger engine on Kafka.")
app.command()(processes.worker)
app.command()(processes.dispatcher)
app.command()(processes.acls)
app.command()(events.publish)
app.command()(events.tail)
app.command()(api.api)
app.command()(api.connector)
app.command()(status.status)
app.command()(explain.explain)
app.add_typer(processes.topics_app, name="topics")
app.add_typer(subs_app, name="subscriptions")
app.add_typer(api.keys_app, name="api-keys")
app.add_typer(routes_app, name="routes")
app.add_typer(schemas_app, name="schemas")
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(deliveries_app, name="deliveries")

try:  # the development tools, when installed (they are part of this repository)
    from . import dev
except ModuleNotFoundError as exc:
    if exc.name != "devtools" and not (exc.name or "").startswith("devtools."):
        raise
else:
    app.add_typer(dev.broker_app, name="broker")
    app.add_typer(dev.registry_app, name="registry")
    app.command()(dev.demo)
    app.command()(dev.simulate)


def main() -> None:
    app()
