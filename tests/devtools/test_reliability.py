"""The Reliability page's figures: what tests recorded, merged by ./dev reliability, rendered by the docs hook."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.reliability import RESULTS, merge, read_records

ROOT = Path(__file__).resolve().parents[2]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


def test_a_new_record_replaces_its_key_and_leaves_the_others():
    old = {"a": {"line": "old a", "measured_on": "2026-01-01", "test": "t::a", "figures": {}}}
    new = [
        {"key": "b", "line": "b line", "test": "t::b", "figures": {"n": 1}},
        {"key": "a", "line": "new a", "test": "t::a", "figures": {}},
    ]
    merged = merge(old, new, "2026-02-02")
    assert merged["a"]["line"] == "new a" and merged["a"]["measured_on"] == "2026-02-02"
    assert merged["b"] == {"line": "b line", "measured_on": "2026-02-02", "test": "t::b", "figures": {"n": 1}}
    assert old["a"]["line"] == "old a"


def test_the_page_shows_each_line_with_its_day_and_an_unknown_key_fails_the_build():
    hooks = _hooks()
    results = {"x": {"line": "3 of 3 exact", "measured_on": "2026-02-02"}}
    assert hooks.measured_lines("| t | <!-- measured: x --> |", results) == "| t | 3 of 3 exact (2026-02-02) |"
    with pytest.raises(ValueError, match="no such result"):
        hooks.measured_lines("<!-- measured: y -->", results)


def test_every_key_the_docs_name_has_a_result_and_every_result_is_shown():
    hooks = _hooks()
    results = json.loads(RESULTS.read_text())
    named = {m.group(1) for page in (ROOT / "docs").glob("*.md") for m in hooks.MEASURED.finditer(page.read_text())}
    assert named == set(results), f"not on a page: {set(results) - named}; no result: {named - set(results)}"


@pytest.mark.subprocess
def test_a_passing_test_records_what_it_measured_and_a_failing_one_records_nothing(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "from tests.support.measured import measured\n"
        "def test_passes():\n    measured('good', '2 of 2', n=2)\n"
        "def test_fails():\n    measured('bad', '1 of 2', n=1)\n    assert False\n"
    )
    recorded = tmp_path / "measured.jsonl"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", str(tmp_path / "test_sample.py")],
        cwd=ROOT,
        env={**os.environ, "CDP_MEASURED_FILE": str(recorded)},
        capture_output=True,
        timeout=120,
    )
    records = read_records(recorded)
    assert [(r["key"], r["line"], r["figures"]) for r in records] == [("good", "2 of 2", {"n": 2})]
    assert records[0]["test"].endswith("test_sample.py::test_passes")
