"""Which hooks a trigger event goes to (pure), and the egress policy."""

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from schemas.hooks import Hook, hook_secret
from streams.delivery.hooks import hooks_for
from streams.delivery.receivers.signing import parse_secret
from streams.delivery.routing import Facts
from streams.kafka.egress import EgressDenied, EgressPolicy

T0 = datetime(2026, 11, 24, 9, tzinfo=UTC)


def hook(hook_id: str, types: list[str], created: datetime = T0, **filter_) -> Hook:
    return Hook(
        id="hk_" + hook_id * 24,
        url="https://example.com/x",
        types=types,
        filter=filter_,
        nonce="n" * 32,
        created_at=created,
        created_by="k",
    )


CROSSED = Facts("segment.threshold.crossed", "segment/vip", "ann", {"team": "marketing"}, "vip-100")
FAILED = Facts("datasource.refresh.failed", "data-source/crm")


def test_types_filters_and_registration_time_decide():
    hooks = [
        hook("a", ["segment.threshold.crossed"]),
        hook(
            "b",
            ["segment.threshold.crossed"],
            entity_kind="segment",
            entity_id="vip",
            subscription_id="vip-100",
            labels={"team": "marketing"},
        ),
        hook("c", ["segment.threshold.crossed"], entity_id="other"),
        hook("d", ["segment.threshold.crossed"], labels={"team": "sales"}),
        hook("e", ["datasource.refresh.failed", "segment.threshold.crossed"], entity_kind="measure"),
        hook("f", ["segment.threshold.crossed"], created=T0 + timedelta(seconds=1)),
        hook("g", ["datasource.refresh.failed"], entity_kind="data-source", entity_id="crm"),
    ]
    assert [name[-1] for name in hooks_for(hooks, CROSSED, T0)] == ["a", "b"]  # f: registered after the event
    assert [name[-1] for name in hooks_for(hooks, FAILED, T0 + timedelta(seconds=5))] == ["g"]


def test_each_hook_has_its_own_secret_derived_from_the_operators_key():
    a, b = hook("a", ["segment.threshold.crossed"]), hook("b", ["segment.threshold.crossed"])
    key = b"k" * 32
    assert hook_secret(key, a.id, a.nonce) != hook_secret(key, b.id, b.nonce)
    assert hook_secret(key, a.id, a.nonce) == hook_secret(key, a.id, a.nonce)
    assert hook_secret(key, a.id, a.nonce) != hook_secret(b"j" * 32, a.id, a.nonce)
    assert len(parse_secret(hook_secret(key, a.id, a.nonce))) == 32


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_global_addresses_are_denied(address):
    with pytest.raises(EgressDenied):
        EgressPolicy().check_address(ipaddress.ip_address(address))


def test_allowed_networks_and_global_addresses_pass():
    EgressPolicy().check_address(ipaddress.ip_address("93.184.215.14"))
    EgressPolicy((ipaddress.ip_network("127.0.0.0/8"),)).check_address(ipaddress.ip_address("127.0.0.1"))


def test_urls_must_be_https_without_credentials_and_names_are_resolved():
    policy = EgressPolicy()
    for url in ("http://example.com/", "https://user:pw@example.com/", "https:///nohost"):
        with pytest.raises(EgressDenied):
            policy.check_url(url)
    with pytest.raises(EgressDenied, match="127.0.0.1"):
        asyncio.run(policy.check_host("https://localhost/hook"))
