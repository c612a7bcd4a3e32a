"""What a reliability test measured.

Each test prints its figures. Under ``./dev reliability`` and ``./dev chaos``
(CDP_MEASURED_FILE set), a test that passes also records them, and
``devtools/reliability.py`` merges the records into
``docs/results/reliability.json``: the docs' "last measured" lines are rendered
from that file, never edited by hand. A failed test records nothing."""

from __future__ import annotations

import json
import os
from typing import Any

_pending: list[dict[str, Any]] = []


def measured(key: str, line: str, **figures: Any) -> None:
    """``line`` says what was measured, in a sentence built from ``figures``; ``key`` names it in the docs."""
    print(f"\n{key}: {line}", flush=True)
    _pending.append({"key": key, "line": line, "figures": figures})


def settle(passed: bool, test: str) -> None:
    """Called by conftest after each test's call phase."""
    path = os.environ.get("CDP_MEASURED_FILE")
    if passed and path:
        with open(path, "a") as out:
            for record in _pending:
                out.write(json.dumps({**record, "test": test}) + "\n")
    _pending.clear()
