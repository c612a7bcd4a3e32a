"""Deterministic trigger ids: the same cause always yields the same id, so a
replay after a crash repeats a trigger only under its original id."""

from __future__ import annotations

import json
import uuid

_NAMESPACE = uuid.UUID("5b0c4c64-2f1e-4f57-9a43-1d7f0f6a7c11")


def trigger_id(*cause: str) -> str:
    # JSON keeps the parts unambiguous whatever characters they hold.
    return str(uuid.uuid5(_NAMESPACE, json.dumps(cause, ensure_ascii=False)))
