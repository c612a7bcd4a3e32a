"""The subscriptions commands, driven as a person would, against the broker."""

from __future__ import annotations

import subprocess
import sys

from ..kafka_helpers import ROOT, env_for


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env_for(settings), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_subscriptions_apply_add_list_remove(settings, tmp_path):
    applied = cli(settings, "subscriptions", "apply", str(ROOT / "examples/subscriptions.yaml"))
    assert applied.returncode == 0 and "applied 2" in applied.stdout, applied.stderr
    added = cli(settings, "subscriptions", "add", "tiny", "--kind", "segment", "--entity", "seg-1",
                "--threshold", "10", "--recovery", "5", "--owner", "me@example.com", "--label", "team=data")  # fmt: skip
    assert added.returncode == 0, added.stderr

    listed = cli(settings, "subscriptions", "list")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["high-value-1000", "revenue-50k", "tiny"]
    assert "segment/seg-1" in listed.stdout and "re-arm < 5" in listed.stdout

    removed = cli(settings, "subscriptions", "remove", "tiny")
    assert removed.returncode == 0, removed.stderr
    assert "tiny" not in cli(settings, "subscriptions", "list").stdout


def test_subscription_errors_are_one_sentence_with_a_hint(settings, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("subscriptions:\n  - subscription_id: x\n    entity_kind: segment\n")
    out = cli(settings, "subscriptions", "apply", str(bad))
    assert out.returncode == 2 and "entity_id" in out.stderr and "Traceback" not in out.stderr
    bad.write_text("subscriptions: [unclosed")
    out = cli(settings, "subscriptions", "apply", str(bad))
    assert out.returncode == 2 and "not valid YAML" in out.stderr
    out = cli(settings, "subscriptions", "remove", "ghost")
    assert out.returncode == 1 and "no subscription 'ghost'" in out.stderr and "Hint" in out.stderr
    out = cli(settings, "subscriptions", "add", "y", "--kind", "segment", "--entity", "s", "--threshold", "1",
              "--recovery", "2", "--owner", "o")  # fmt: skip
    assert out.returncode == 2 and "must not be above threshold" in out.stderr


def test_tail_shows_triggers_as_lines_and_as_json(kafka, worker):
    import json

    from schemas.triggers import TriggerEvent

    from .. import builders as b

    t = worker.topics
    kafka.produce_all(t.datasources, [("crm", b.datasource("crm", "succeeded", 0)),
                                      ("web", b.datasource("web", "failed", 1))])  # fmt: skip
    as_json = cli(worker.settings, "tail", "--from-beginning", "--json", "--limit", "2")
    assert as_json.returncode == 0, as_json.stderr
    events = [TriggerEvent.model_validate(json.loads(line)) for line in as_json.stdout.splitlines()]
    assert sorted(e.subject for e in events) == ["data-source/crm", "data-source/web"]
    human = cli(worker.settings, "tail", "--from-beginning", "--limit", "2")
    lines = human.stdout.splitlines()
    assert len(lines) == 2 and "\x1b[" not in human.stdout  # no colour codes when not a terminal
    assert any(line.startswith("datasource.refresh.failed") and "E_AUTH: credentials expired" in line
               for line in lines)  # fmt: skip
    quiet = cli(worker.settings, "tail", "--idle", "1")
    assert quiet.returncode == 0 and quiet.stdout == ""
