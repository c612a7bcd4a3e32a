"""The delivery metrics' label values: what the code emits is what is preset (so a series exists at 0 from
the start) and what the docs document, because all three come from one declaration."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from prometheus_client import generate_latest

from schemas.deadletter import AttemptResult, DeliveryOutcome
from streams.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]


def _emitted(call: str, position: int) -> set[str]:
    """String constants passed as argument ``position`` to ``call`` (``Attempt``, ``deliveries.labels``) in
    streams/."""
    found = set()
    for path in (ROOT / "streams").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) <= position:
                continue
            named = ast.unparse(node.func)
            if named == call or named.endswith("." + call):  # constants anywhere in it: `"a" if x else "b"` too
                arg = node.args[position]
                found |= {c.value for c in ast.walk(arg) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return found


def _preset(metric: str, label: str) -> set[str]:
    """The values of ``label`` that ``preset_delivery`` creates at 0 for ``metric``."""
    metrics = Metrics()
    metrics.preset_delivery(["webhook", "hook"])
    text = generate_latest(metrics.registry).decode()
    return set(re.findall(metric + r"\{[^}]*" + label + r'="([a-z0-9_]+)"', text))


def _documented(metric: str) -> set[str]:
    page = (ROOT / "docs" / "observability.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith(f"| `{metric}` |"))
    return set(re.findall(r"\b[a-z][a-z0-9_]+\b", row.split("|")[4]))


def test_attempt_results_emitted_preset_and_documented_are_one_set():
    declared = set(get_args(AttemptResult))
    assert _emitted("Attempt", 1) <= declared  # mypy checks the same through the Literal
    assert {"ok", "http_other", "denied", "no_recipients"} <= _emitted("Attempt", 1)
    assert _preset("cdp_triggers_delivery_attempts_total", "result") == declared
    assert declared <= _documented("cdp_triggers_delivery_attempts_total")


def test_delivery_outcomes_emitted_preset_and_documented_are_one_set():
    declared = set(get_args(DeliveryOutcome))
    assert _emitted("deliveries.labels", 1) == declared
    assert _preset("cdp_triggers_deliveries_total", "outcome") == declared
    assert declared <= _documented("cdp_triggers_deliveries_total")
