"""Change events from JSON documents and ``field=value`` assignments (pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any


def assign(document: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Set ``a.b=value`` paths in ``document`` (in place; returned). The value
    is parsed as JSON when it can be, else taken as a string."""
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected field=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = document
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return document


def with_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """A new ``event_id`` and ``now`` as ``event_time`` where the document has none."""
    document.setdefault("event_id", str(uuid.uuid4()))
    document.setdefault("event_time", datetime.now(UTC).isoformat())
    return document
