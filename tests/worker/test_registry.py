import json

from streams.worker.registry import SubscriptionRegistry
from tests.support import builders as b


def put(reg, sub):
    reg.apply(sub["subscription_id"].encode(), json.dumps(sub).encode())


def test_upsert_index_and_tombstone():
    reg = SubscriptionRegistry()
    put(reg, b.subscription("a", "segment", "vip", 100))
    put(reg, b.subscription("b", "segment", "vip", 200, recovery=150))
    assert [(r.subscription_id, r.threshold, r.rearm_below) for r in reg.rules_for("segment/vip")] == [
        ("a", 100, 100), ("b", 200, 150)]  # fmt: skip
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
