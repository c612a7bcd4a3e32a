import asyncio
import json

import pytest

from streams.topics import Topics
from streams.worker import registry as registry_module
from streams.worker.registry import SubscriptionRegistry
from tests.support import builders as b


def put(reg, sub):
    reg.apply(sub["subscription_id"].encode(), json.dumps(sub).encode())


def test_upsert_index_and_tombstone():
    reg = SubscriptionRegistry()
    put(reg, b.subscription("a", "segment", "vip", 100))
    put(reg, b.subscription("b", "segment", "vip", 200, recovery=150))
    assert [(r.subscription_id, r.threshold, r.rearm_below) for r in reg.rules_for("segment/vip")] == [
        ("a", 100, 100),
        ("b", 200, 150),
    ]
    reg.apply(b"a", None)
    assert [r.subscription_id for r in reg.rules_for("segment/vip")] == ["b"]
    reg.apply(b"b", None)
    assert reg.rules_for("segment/vip") == () and len(reg) == 0


def test_moving_a_subscription_to_another_entity_reindexes_both():
    reg = SubscriptionRegistry()
    put(reg, b.subscription("a", "segment", "vip", 100))
    put(reg, b.subscription("a", "measure", "ltv", 5))
    assert reg.rules_for("segment/vip") == ()
    assert [r.threshold for r in reg.rules_for("measure/ltv")] == [5]


def test_invalid_record_keeps_the_previous_version():
    reg = SubscriptionRegistry()
    put(reg, b.subscription("a", "segment", "vip", 100))
    reg.apply(b"a", b'{"subscription_id": "a", "threshold": "high"}')
    reg.apply(b"other", json.dumps(b.subscription("a", "segment", "vip", 1)).encode())  # key mismatch
    reg.apply(None, b"{}")
    assert reg.get("a").threshold == 100 and len(reg) == 1


def test_tombstone_for_unknown_id_is_harmless():
    reg = SubscriptionRegistry()
    reg.apply(b"ghost", None)
    assert len(reg) == 0


# -- the local copy (RocksDB) ---------------------------------------------------


def test_local_copy_survives_a_restart_with_its_offsets(tmp_path):
    reg = SubscriptionRegistry(directory=tmp_path / "subs")
    reg.reset("topic-a")
    put(reg, b.subscription("a", "segment", "vip", 100))
    put(reg, b.subscription("b", "segment", "vip", 200, recovery=150))
    put(reg, b.subscription("c", "measure", "ltv", 5))
    reg.apply(b"c", None)
    reg.commit({0: 4, 1: 0})
    put(reg, b.subscription("d", "measure", "ltv", 9))  # applied, never committed: a crash loses it with its offset
    reg._kv.close()

    again = SubscriptionRegistry(directory=tmp_path / "subs")
    assert again.offsets("topic-a") == {0: 4, 1: 0} and len(again) == 2
    assert [(r.subscription_id, r.threshold, r.rearm_below) for r in again.rules_for("segment/vip")] == [
        ("a", 100, 100),
        ("b", 200, 150),
    ]
    assert again.rules_for("measure/ltv") == () and again.get("b").recovery_threshold == 150
    assert again.offsets("topic-b") is None  # another topic's copy is not used
    again.reset("topic-b")
    assert len(again) == 0 and again.rules_for("segment/vip") == () and again.offsets("topic-b") is None


def test_an_old_local_copy_is_not_trusted(tmp_path, monkeypatch):
    reg = SubscriptionRegistry(directory=tmp_path / "subs")
    reg.reset("t")
    put(reg, b.subscription("a", "segment", "vip", 100))
    reg.commit({0: 1})
    assert reg.offsets("t") == {0: 1}
    monkeypatch.setattr(registry_module, "LOCAL_COPY_MAX_AGE_SECONDS", -1)
    assert reg.offsets("t") is None


def test_a_local_copy_in_another_format_is_not_trusted(tmp_path, monkeypatch):
    reg = SubscriptionRegistry(directory=tmp_path / "subs")
    reg.reset("t")
    reg.commit({0: 1})
    assert reg.offsets("t") == {0: 1}
    monkeypatch.setattr(registry_module, "FORMAT", b"next")  # what a copy written by another version meets
    assert reg.offsets("t") is None


def test_rules_carry_what_a_trigger_needs(tmp_path):
    reg = SubscriptionRegistry(directory=tmp_path / "subs")
    reg.reset("t")
    put(reg, b.subscription("a", "segment", "vip", 100, owner="o@example.com", team="growth"))
    reg.commit({0: 1})
    (rule,) = reg.rules_for("segment/vip")
    assert (rule.owner, rule.labels) == ("o@example.com", (("team", "growth"),))


def test_cached_rules_follow_changes():
    reg = SubscriptionRegistry()
    put(reg, b.subscription("a", "segment", "vip", 100))
    assert [r.threshold for r in reg.rules_for("segment/vip")] == [100] and reg.get("a").threshold == 100
    put(reg, b.subscription("a", "segment", "vip", 300))
    assert [r.threshold for r in reg.rules_for("segment/vip")] == [300] and reg.get("a").threshold == 300
    reg.commit({})
    reg.apply(b"a", None)
    assert reg.rules_for("segment/vip") == () and reg.get("a") is None


@pytest.mark.broker
def test_restarted_registry_reads_only_what_was_written_since(kafka, settings, tmp_path):
    topic = Topics(settings).subscriptions
    kafka.produce_all(topic, [(s, b.subscription(s, "segment", "vip", 100 + i)) for i, s in enumerate("abc")])
    directory = tmp_path / "registry"

    async def load() -> tuple[SubscriptionRegistry, int]:
        reg = SubscriptionRegistry(directory=directory)
        applied = 0
        apply = reg.apply

        def counting(key, value):
            nonlocal applied
            applied += 1
            apply(key, value)

        reg.apply = counting  # type: ignore[method-assign]  # counting the calls
        await reg.load(settings, topic)
        return reg, applied

    async def scenario():
        reg, applied = await load()
        assert applied == 3 and len(reg) == 3
        await reg.close()
        kafka.produce_all(topic, [("d", b.subscription("d", "measure", "ltv", 7)), ("a", None)])
        reg, applied = await load()
        assert applied == 2, "a restart re-read records its local copy had"
        assert sorted(s.subscription_id for s in reg.all()) == ["b", "c", "d"]
        assert [r.subscription_id for r in reg.rules_for("segment/vip")] == ["b", "c"]
        reg.commit({0: 10_000, 1: 10_000})  # a copy ahead of the topic (the topic was re-created): not trusted
        await reg.close()
        reg, applied = await load()
        assert applied == 5 and sorted(s.subscription_id for s in reg.all()) == ["b", "c", "d"]
        await reg.close()

    asyncio.run(scenario())


# -- rules ready before input ---------------------------------------------------


def _warmed(tmp_path, monkeypatch, subs):
    reg = SubscriptionRegistry(directory=tmp_path / "subs")
    reg.reset("t")
    for sub in subs:
        put(reg, sub)
    reg.commit({0: len(subs)})
    reg._warm()  # what load() ends with
    reads: list[bytes] = []
    get = reg._kv.get
    monkeypatch.setattr(reg._kv, "get", lambda key: reads.append(key) or get(key))
    return reg, reads


def test_rules_are_decoded_at_load_and_an_entity_without_any_costs_no_read(tmp_path, monkeypatch):
    reg, reads = _warmed(
        tmp_path, monkeypatch, [b.subscription("a", "segment", "vip", 100), b.subscription("b", "measure", "ltv", 5)]
    )
    assert [r.threshold for r in reg.rules_for("segment/vip")] == [100]
    assert reg.rules_for("segment/unknown") == () and reg.rules_for("measure/ltv")[0].threshold == 5
    assert reads == []  # neither a known entity nor one without subscriptions went to the store
    put(reg, b.subscription("c", "segment", "new", 7))  # followed after load: in memory at once
    reg.apply(b"a", None)
    assert [r.threshold for r in reg.rules_for("segment/new")] == [7] and reg.rules_for("segment/vip") == ()


def test_more_entities_than_the_cache_holds_fall_back_to_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "RULES_CACHE", 2)
    reg, reads = _warmed(tmp_path, monkeypatch, [b.subscription(s, "segment", s, 1) for s in "abc"])
    assert reg._every_rule is None
    assert [r.subscription_id for r in reg.rules_for("segment/c")] == ["c"]
    assert reg.rules_for("segment/none") == () and reads  # unknown entities are looked up again


def test_growing_past_the_cache_after_load_falls_back_to_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "RULES_CACHE", 2)
    reg, _ = _warmed(tmp_path, monkeypatch, [b.subscription("a", "segment", "a", 1)])
    assert reg._every_rule is not None
    put(reg, b.subscription("b", "segment", "b", 2))
    put(reg, b.subscription("c", "segment", "c", 3))
    assert reg._every_rule is None and [r.threshold for r in reg.rules_for("segment/c")] == [3]
