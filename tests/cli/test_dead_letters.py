"""The bad-producer-deploy incident, end to end on the real broker and worker: malformed events are dead-lettered,
seen with `dead-letters list` and `show`, refused while still invalid, fixed with `--fix`, replayed, and their
triggers fire exactly once; a second replay is refused."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import cli
from tests.support import builders as b
from tests.support import scenario
from tests.support.metrics import wait_for_metric
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


def _listed(settings) -> list[dict]:
    listed = cli(settings, "dead-letters", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.splitlines()]


def test_a_bad_deploy_dead_letters_and_its_fixed_events_replay_to_triggers_exactly_once(
    kafka, settings, worker, tmp_path
):
    t = worker.topics
    kafka.produce_all(t.subscriptions, [("vip-1000", b.subscription("vip-1000", "segment", "vip", 1000))])
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")
    # The bad deploy: a member count as a string, and a data-source status that is not JSON at all.
    kafka.produce_all(
        t.segments,
        [("vip", b.segment("vip", 900, 0.0)), ("vip", b.segment("vip", 0, 10.0) | {"member_count": "1,200"})],
    )
    kafka.produce_all(t.datasources, [("crm", b"status=failed")])
    letters = wait_for(lambda: len(_listed(settings)) == 2 and _listed(settings), 60, "dead letters")
    by_topic = {d["topic"]: d for d in letters}
    assert by_topic[t.segments]["reason"] == "schema" and "member_count" in by_topic[t.segments]["error"]
    assert by_topic[t.datasources]["reason"] == "not_json"
    summary = cli(settings, "dead-letters", "list").stdout
    assert "2 dead letters: 1 not_json, 1 schema" in summary, summary

    shown = cli(settings, "dead-letters", "show", by_topic[t.segments]["id"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["value"]["member_count"] == "1,200", shown.stdout

    # As they are, both are still invalid: nothing is published.
    refused = cli(settings, "dead-letters", "replay", "--since", "2000-01-01T00:00:00Z")
    assert refused.returncode == 2 and "nothing replayed; 2 cannot be" in refused.stderr, refused.stderr
    assert "still invalid: schema" in refused.stderr and "still invalid: not_json" in refused.stderr
    assert len(kafka.read(t.segments, idle=1.0)) == 2 and len(kafka.read(t.datasources, idle=1.0)) == 1

    fixes = tmp_path / "fixes.jsonl"
    fixed_segment = b.segment("vip", 1200, 10.0)
    fixed_source = b.datasource("crm", "failed", 20.0, will_retry=False)
    fixes.write_text(
        "\n".join(
            json.dumps({"dead_letter_id": by_topic[topic]["id"], "event": event})
            for topic, event in [(t.segments, fixed_segment), (t.datasources, fixed_source)]
        )
    )
    replayed = cli(settings, "dead-letters", "replay", "--fix", str(fixes), "--by", "ops@example.com")
    assert replayed.returncode == 0 and "2 replayed" in replayed.stdout, replayed.stderr

    wanted = {"io.cdptriggers.segment.threshold.crossed.v1", "io.cdptriggers.datasource.refresh.failed.v1"}

    def triggers() -> list[dict]:
        return [json.loads(m.value()) for m in kafka.read(t.actions, idle=2.0, timeout=30)]

    fired = wait_for(lambda: {e["type"] for e in triggers()} >= wanted and triggers(), 60, "the replayed triggers")
    assert sorted(e["type"] for e in fired) == sorted(wanted), [e["type"] for e in fired]
    crossing = next(e for e in fired if e["type"].startswith("io.cdptriggers.segment"))
    assert crossing["data"]["value"] == 1200 and crossing["data"]["previous_value"] == 900

    again = cli(settings, "dead-letters", "replay", "--fix", str(fixes))
    assert again.returncode == 2 and "already replayed by ops@example.com" in again.stderr, again.stderr
    replays = {d["id"]: d["replays"] for d in _listed(settings)}
    assert all(len(r) == 1 and r[0]["by"] == "ops@example.com" and r[0]["fixed"] for r in replays.values())
    scenario.settle(kafka.bootstrap, settings.app_id, [t.segments, t.datasources])  # offsets agree with outputs
    assert len(triggers()) == 2, "a trigger fired twice"
