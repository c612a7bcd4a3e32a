"""The CLI driven as a person would, against the broker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.cli import cli
from tests.support.kafka import ROOT, env_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def test_subscriptions_apply_add_list_remove(settings, tmp_path):
    applied = cli(settings, "subscriptions", "apply", str(ROOT / "devtools/data/demo-subscriptions.yaml"))
    assert applied.returncode == 0 and "applied 2" in applied.stdout, applied.stderr
    added = cli(
        settings,
        "subscriptions",
        "add",
        "tiny",
        "--kind",
        "segment",
        "--entity",
        "seg-1",
        "--threshold",
        "10",
        "--recovery",
        "5",
        "--owner",
        "me@example.com",
        "--label",
        "team=data",
    )
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
    out = cli(
        settings,
        "subscriptions",
        "add",
        "y",
        "--kind",
        "segment",
        "--entity",
        "s",
        "--threshold",
        "1",
        "--recovery",
        "2",
        "--owner",
        "o",
    )
    assert out.returncode == 2 and "must not be above threshold" in out.stderr


def test_tail_shows_triggers_as_lines_and_as_json(kafka, worker):
    from schemas.triggers import TriggerEvent
    from tests.support import builders as b

    t = worker.topics
    kafka.produce_all(
        t.datasources, [("crm", b.datasource("crm", "succeeded", 0)), ("web", b.datasource("web", "failed", 1))]
    )
    as_json = cli(worker.settings, "tail", "--from-beginning", "--json", "--limit", "2")
    assert as_json.returncode == 0, as_json.stderr
    events = [TriggerEvent.model_validate(json.loads(line)) for line in as_json.stdout.splitlines()]
    assert sorted(e.subject for e in events) == ["data-source/crm", "data-source/web"]
    human = cli(worker.settings, "tail", "--from-beginning", "--limit", "2")
    lines = human.stdout.splitlines()
    assert len(lines) == 2 and "\x1b[" not in human.stdout  # no colour codes when not a terminal
    assert any(
        " datasource.refresh.failed " in line
        and "E_AUTH: credentials expired" in line
        and "data-source/web" in line
        and "(age " in line
        for line in lines
    )
    quiet = cli(worker.settings, "tail", "--idle", "1")
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_publish_from_flags_and_from_json_lines(kafka, settings):
    import json

    from streams.topics import Topics
    from tests.support import builders as b

    t = Topics(settings)
    flags = cli(
        settings,
        "publish",
        "segment",
        "--set",
        "segment_id=vip",
        "--set",
        "segment_name=VIP",
        "--set",
        "member_count=1200",
        "--set",
        "event_id=e-flags",
    )
    assert flags.returncode == 0 and "published 1 segment event" in flags.stdout, flags.stderr
    lines = "\n".join(json.dumps(b.datasource("crm", status, i)) for i, status in enumerate(["started", "succeeded"]))
    piped = subprocess.run(
        [sys.executable, "-m", "streams.cli", "publish", "datasource", "-"],
        input=lines,
        env=env_for(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0 and "published 2 datasource events" in piped.stdout, piped.stderr

    [segment] = kafka.read_json(t.segments, until=1, timeout=20)
    assert (segment["event_id"], segment["member_count"], segment["segment_name"]) == ("e-flags", 1200, "VIP")
    assert segment["event_time"]  # defaulted to now
    assert [d["status"] for d in kafka.read_json(t.datasources, until=2, timeout=20)] == ["started", "succeeded"]

    bad = cli(settings, "publish", "segment", '{"segment_id": "vip", "segment_name": "V", "member_count": 1.5}')
    assert bad.returncode == 2 and "member_count" in bad.stderr and "Traceback" not in bad.stderr
    unknown = cli(settings, "publish", "segmnt", "{}")
    assert unknown.returncode == 2 and "unknown kind 'segmnt'" in unknown.stderr


def test_simulate_publishes_a_bounded_stream_and_dry_run_is_deterministic(kafka, settings):
    from streams.topics import Topics

    t = Topics(settings)
    out = cli(settings, "simulate", "--events", "60", "--unpaced", "--seed", "11")
    assert out.returncode == 0 and "published 60 events" in out.stdout, out.stderr
    total = sum(
        len(kafka.read(topic, idle=1.5, timeout=20)) for topic in (t.datasources, t.segments, t.measures, t.runs)
    )
    assert total == 60

    args = ("simulate", "--dry-run", "--events", "40", "--seed", "11", "--origin", "2026-11-24T08:00:00+00:00")
    first, second = cli(settings, *args), cli(settings, *args)
    assert first.returncode == 0 and first.stdout == second.stdout and len(first.stdout.splitlines()) == 40
    lines = [json.loads(line) for line in first.stdout.splitlines()]  # JSON lines, as its help says
    assert all(line["event_time"].startswith("2026-11-24T") for line in lines)


def test_missing_topics_and_unreachable_broker_are_one_sentence_with_a_hint(settings):
    other = settings.model_copy(update={"topic_prefix": "never-created."})
    out = cli(
        other, "publish", "segment", "--set", "segment_id=v", "--set", "segment_name=V", "--set", "member_count=1"
    )
    assert out.returncode == 1 and "do not exist. Hint: 'cdp-triggers topics create'" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli(other, "tail", "--idle", "1")
    assert out.returncode == 1 and "topic never-created.actions does not exist" in out.stderr
    down = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})
    out = cli(down, "subscriptions", "list")
    assert out.returncode == 1 and "Kafka is not reachable" in out.stderr and "Traceback" not in out.stderr
