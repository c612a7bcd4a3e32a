"""``./dev reliability``: run the reliability tests and keep what each measured.

The tests record their figures (``tests/support/measured.py``) in a file of
this run; a test that passed replaces its line in
``docs/results/reliability.json``, with the day it ran, and a test that failed
leaves the last good one. The docs render their "last measured" lines from
that file (``docs/hooks.py``), so a figure in the docs is always one a test
produced. ``./dev chaos`` records the long runs the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results" / "reliability.json"
TESTS = [
    "tests/worker/test_kill_recovery.py",
    "tests/worker/test_chaos.py",
    "tests/worker/test_catchup.py",
    "tests/worker/test_stalls.py",
    "tests/delivery/test_dispatcher.py",
    "tests/api/test_api_stalls.py",
    "tests/deploy/test_chart_pods.py",
    "tests/delivery/test_redeliver.py",
]


def merge(results: dict[str, Any], records: list[dict[str, Any]], day: str) -> dict[str, Any]:
    """The results with each recorded key replaced by its newest record, keys in order."""
    merged = dict(results)
    for record in records:
        merged[record["key"]] = {
            "line": record["line"],
            "measured_on": day,
            "test": record["test"],
            "figures": record["figures"],
        }
    return dict(sorted(merged.items()))


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    """``argv``: pytest arguments; the reliability tests when it names none."""
    named = [a for a in argv if a.startswith("tests/")]
    with tempfile.TemporaryDirectory() as folder:
        recorded = Path(folder) / "measured.jsonl"
        recorded.touch()
        command = [sys.executable, "-m", "pytest", *([] if named else TESTS), *argv]
        code = subprocess.call(command, cwd=ROOT, env={**os.environ, "CDP_MEASURED_FILE": str(recorded)})
        records = read_records(recorded)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(merge(results, records, datetime.now(UTC).date().isoformat()), indent=2) + "\n")
    for record in records:
        print(f"{record['key']}: {record['line']}")
    print(f"{len(records)} results recorded in {RESULTS.relative_to(ROOT)}" + ("" if code == 0 else "; tests failed"))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
