"""The docs' pictures as SVG, drawn from the code so they cannot drift: the pipeline (topic names from the
settings) and a routes file's tree (from the file itself). Plain SVG, no script: the docs hook inlines it."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from schemas.routes import Receiver, Route, RoutesFile
from streams.settings import Settings
from streams.topics import Topics

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
MONO = "font-family:ui-monospace,'SFMono-Regular',Menlo,Consolas,monospace"
LINE = 17  # px between text lines, at a 14 px font
STYLE = (
    "<style>"
    f"text{{{FONT};font-size:14px;fill:#1f2933}}"
    f"text.mono{{{MONO};font-size:13px}}"
    "text.small{font-size:12px;fill:#52606d}"
    ".process{fill:#e3f2fd;stroke:#1565c0;stroke-width:1.5}"
    ".topic{fill:#fff8e1;stroke:#b7791f;stroke-width:1.2}"
    ".outside{fill:#f5f5f5;stroke:#757575;stroke-width:1.2;stroke-dasharray:4 3}"
    ".edge{fill:none;stroke:#52606d;stroke-width:1.3;marker-end:url(#arrow)}"
    ".edge.soft{stroke-dasharray:5 4}"
    "</style>"
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#52606d"/></marker></defs>'
)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    lines: tuple[str, ...]
    kind: str  # process, topic or outside (what is not ours)
    mono: bool = False

    @property
    def h(self) -> int:
        return 12 + LINE * len(self.lines)

    def top(self, at: float = 0.5) -> tuple[int, int]:
        return self.x + round(self.w * at), self.y

    def bottom(self, at: float = 0.5) -> tuple[int, int]:
        return self.x + round(self.w * at), self.y + self.h

    def right(self) -> tuple[int, int]:
        return self.x + self.w, self.y + self.h // 2

    def left(self) -> tuple[int, int]:
        return self.x, self.y + self.h // 2

    def svg(self) -> str:
        radius = 10 if self.kind == "process" else 4
        at = f'x="{self.x}" y="{self.y}" width="{self.w}" height="{self.h}"'
        out = [f'<rect class="{self.kind}" {at} rx="{radius}"/>']
        for i, line in enumerate(self.lines):
            css = ' class="mono"' if self.mono else (' class="small"' if i else "")
            bold = ' font-weight="600"' if i == 0 and not self.mono else ""
            out.append(f'<text x="{self.x + 8}" y="{self.y + 6 + LINE * (i + 1) - 4}"{css}{bold}>{escape(line)}</text>')
        return "".join(out)


def edge(a: tuple[int, int], b: tuple[int, int], soft: bool = False, down: bool = False) -> str:
    """A curve from a to b, leaving a across (or down) and reaching b the same way; a soft one carries
    configuration, not events."""
    (x1, y1), (x2, y2) = a, b
    css = "edge soft" if soft else "edge"
    if down:
        mid = (y1 + y2) // 2
        return f'<path class="{css}" d="M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2 - 2}"/>'
    mid = (x1 + x2) // 2
    return f'<path class="{css}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2 - 2},{y2}"/>'


def svg(width: int, height: int, label: str, body: list[str]) -> str:
    # In a div, on one line: Markdown passes it through as one raw HTML block, untouched.
    return (
        f'<div class="diagram"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" style="max-width:100%;height:auto">'
        f"<title>{escape(label)}</title>{STYLE}{''.join(body)}</svg></div>"
    )


def pipeline(settings: Settings | None = None) -> str:
    """Top to bottom: producers and the API, the topics, the worker, the dispatcher and the receivers.
    760 wide, so that its text stays about 13 px in the docs' content column at a 1280 px window."""
    t = Topics(settings or Settings())
    producers = Box(10, 10, 210, ("Your producers", "ETL, Airflow, dbt, kcat, Java"), "outside")
    api = Box(440, 10, 310, ("The triggers API", "subscriptions, hooks, POST /v1/events"), "process")
    inputs = Box(10, 110, 210, (t.datasources, t.segments, t.measures, t.runs), "topic", mono=True)
    subscriptions = Box(280, 150, 190, (t.subscriptions,), "topic", mono=True)
    hooks = Box(560, 150, 190, (t.hooks,), "topic", mono=True)
    worker = Box(60, 250, 300, ("Worker (one or more)", "detects the triggers, per entity"), "process")
    actions = Box(10, 370, 190, (t.actions,), "topic", mono=True)
    dead = Box(230, 370, 190, (t.dead_letter,), "topic", mono=True)
    dispatcher = Box(300, 460, 300, ("Dispatcher", "routes, retries, signs, records"), "process")
    receivers = Box(60, 570, 310, ("Receivers", "Teams, email, webhooks, hooks"), "outside")
    undelivered = Box(420, 570, 230, (t.delivery_dead_letter,), "topic", mono=True)
    boxes = [producers, api, inputs, subscriptions, hooks, worker, actions, dead, dispatcher, receivers, undelivered]
    body = [b.svg() for b in boxes]
    body += [
        edge(producers.bottom(), inputs.top(), down=True),
        edge(api.bottom(0.1), inputs.top(0.8), down=True),
        edge(api.bottom(0.4), subscriptions.top(0.6), soft=True, down=True),
        edge(api.bottom(0.8), hooks.top(0.6), soft=True, down=True),
        edge(inputs.bottom(), worker.top(0.3), down=True),
        edge(subscriptions.bottom(), worker.top(0.8), soft=True, down=True),
        edge(worker.bottom(0.2), actions.top(), down=True),
        edge(worker.bottom(0.7), dead.top(), down=True),
        edge(actions.bottom(), dispatcher.top(0.2), down=True),
        edge(hooks.bottom(), dispatcher.top(0.8), soft=True, down=True),
        edge(dispatcher.bottom(0.2), receivers.top(0.7), down=True),
        edge(dispatcher.bottom(0.7), undelivered.top(), down=True),
    ]
    legend = [
        '<text x="10" y="650" class="small">solid: change events and trigger events; '
        "dashed: configuration (subscriptions, hooks)</text>",
        f'<text x="{dead.x + dead.w + 12}" y="{dead.y + 19}" class="small">bad input</text>',
    ]
    label = "The pipeline: producers and the API, topics, worker, dispatcher, receivers"
    return svg(760, 662, label, body + legend)


def _match(route: Route) -> str:
    m = route.match
    parts = [f"types: {', '.join(m.types)}"] if m.types else []
    parts += [f"subjects: {', '.join(m.subjects)}"] if m.subjects else []
    parts += [f"owners: {', '.join(m.owners)}"] if m.owners else []
    parts += [f"labels: {', '.join(f'{k}={v}' for k, v in m.labels.items())}"] if m.labels else []
    return "; ".join(parts) or "everything"


def _kind(receiver: Receiver) -> str:
    return "Teams" if receiver.teams else "email" if receiver.email else "webhook"


def routing_tree(routes: RoutesFile) -> str:
    """A routes file's tree, children in the order they are tried, each route pointing at its receiver."""
    rows: list[tuple[int, Route, str | None]] = []  # depth, route, receiver that takes what it matches

    def walk(route: Route, depth: int, inherited: str | None) -> None:
        receiver = route.receiver or inherited
        rows.append((depth, route, receiver))
        for child in route.routes:
            walk(child, depth + 1, receiver)

    walk(routes.route, 0, None)
    names = [r.name for r in routes.receivers]
    row_h, top, width = 62, 16, 760
    height = top + max(len(rows), len(names)) * row_h + 44
    body: list[str] = []
    targets: dict[str, Box] = {}
    for i, declared in enumerate(routes.receivers):
        box = Box(560, top + i * row_h, 190, (declared.name, _kind(declared)), "outside")
        targets[declared.name] = box
        body.append(box.svg())
    route_boxes: list[Box] = []
    for i, (depth, route, takes) in enumerate(rows):
        if i == 0:
            title = "root route" + ("" if route.receiver else " (no receiver)")
        else:
            title = f"route {i}" + (" (continue)" if route.continue_ else "")
        box = Box(10 + depth * 36, top + i * row_h, 420 - depth * 36, (title, f"match: {_match(route)}"), "process")
        route_boxes.append(box)
        body.append(box.svg())
        if depth:  # the elbow from its parent's left edge
            parent = next(route_boxes[j] for j in range(i - 1, -1, -1) if rows[j][0] == depth - 1)
            x = parent.x + 14
            y = box.y + box.h // 2
            body.append(f'<path class="edge" d="M{x},{parent.y + parent.h} V{y} H{box.x - 2}"/>')
        if takes in targets and (route.receiver or not route.routes):
            # a route's own receiver; a leaf inheriting its parent's delivers there too
            body.append(edge(box.right(), targets[takes].left(), soft=route.receiver is None))
    body.append(
        f'<text x="10" y="{height - 26}" class="small">Children are tried in order: the first that matches takes '
        "the event, unless it says continue.</text>"
        f'<text x="10" y="{height - 8}" class="small">Dashed: a receiver inherited from the parent route.</text>'
    )
    return svg(width, height, "The routing tree of a routes file", body)
