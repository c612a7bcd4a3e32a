from schemas.routes import RoutesFile
from streams.delivery.routing import Facts, receivers_for


def tree(route: dict) -> RoutesFile:
    receivers = [{"name": n, "webhook": {"url": {"env": "X"}}} for n in ("a", "b", "c", "d")]
    return RoutesFile.model_validate({"receivers": receivers, "route": route})


FAILED = Facts("datasource.refresh.failed", "data-source/crm")
VIP = Facts("segment.threshold.crossed", "segment/vip-gold", owner="o@x.io", labels={"team": "mkt", "tier": "1"})


def test_first_matching_child_wins_and_stops():
    rf = tree(
        {
            "receiver": "d",
            "routes": [
                {"match": {"types": ["segment.threshold.crossed"]}, "receiver": "a"},
                {"match": {"subjects": ["segment/*"]}, "receiver": "b"},
            ],
        }
    )
    assert receivers_for(rf.route, VIP) == ["a"]


def test_continue_keeps_trying_siblings():
    rf = tree(
        {
            "routes": [
                {"match": {"types": ["segment.threshold.crossed"]}, "receiver": "a", "continue": True},
                {"match": {"subjects": ["segment/vip-*"]}, "receiver": "b"},
                {"receiver": "c"},
            ]
        }
    )
    assert receivers_for(rf.route, VIP) == ["a", "b"]
    assert receivers_for(rf.route, FAILED) == ["c"]


def test_parent_receiver_when_no_child_matches_and_inherited_by_children():
    rf = tree(
        {
            "receiver": "d",
            "routes": [
                {
                    "match": {"types": ["segment.threshold.crossed"]},
                    "receiver": "a",
                    "routes": [
                        {"match": {"labels": {"team": "finance"}}, "receiver": "b"},
                    ],
                },
                {
                    "match": {"types": ["datasource.refresh.failed"]},
                    "routes": [{"match": {"subjects": ["data-source/crm"]}}],
                },
            ],
        }
    )
    assert receivers_for(rf.route, VIP) == ["a"]  # child did not match: the parent's own receiver
    assert receivers_for(rf.route, FAILED) == ["d"]  # grandchild inherits the root's receiver
    assert receivers_for(rf.route, Facts("refresh.full.completed", "refresh-run/r1")) == ["d"]


def test_no_receiver_anywhere_means_nobody():
    rf = tree({"routes": [{"match": {"types": ["segment.threshold.crossed"]}, "receiver": "a"}]})
    assert receivers_for(rf.route, FAILED) == []


def test_labels_all_equal_owners_any_and_subject_glob_anchored():
    rf = tree(
        {
            "routes": [
                {
                    "match": {"labels": {"team": "mkt", "tier": "1"}, "owners": ["x@y.z", "o@x.io"]},
                    "receiver": "a",
                    "continue": True,
                },
                {"match": {"labels": {"team": "mkt", "tier": "2"}}, "receiver": "b", "continue": True},
                {"match": {"subjects": ["segment/vip"]}, "receiver": "c", "continue": True},  # no prefix match
                {"match": {"subjects": ["segment/vip-????"]}, "receiver": "d"},
            ]
        }
    )
    assert receivers_for(rf.route, VIP) == ["a", "d"]


def test_a_receiver_reached_twice_is_listed_once():
    rf = tree({"routes": [{"receiver": "a", "continue": True}, {"receiver": "a"}]})
    assert receivers_for(rf.route, VIP) == ["a"]


def test_facts_from_a_trigger_event():
    from tests.support.builders import trigger_event

    facts = Facts.of(trigger_event("crossed"))
    assert facts == Facts(
        "segment.threshold.crossed",
        "segment/vip",
        "owner@example.com",
        {"team": "marketing"},
        subscription_id=facts.subscription_id,
    )
    assert facts.subscription_id and facts.subscription_id == trigger_event("crossed")["data"]["subscription_id"]
    assert Facts.of(trigger_event("failed")).owner is None
