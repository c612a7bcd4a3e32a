"""The API's answers that need its real process and broker: keys made and
revoked by the CLI take effect through the followed keys topic, and a record
Kafka refuses for good is a 4xx that names why. The rest of its contract is
checked in process (``test_api_contract``, ``test_limits``)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.apikeys import split_key
from streams.kafka.clients import KafkaConnection
from streams.topics import Topics
from tests.support.api import Api, api_keys, create_key, own_api, problem

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]
SUBSCRIPTION = {"entity_kind": "segment", "entity_id": "vip", "threshold": 10, "owner": "o@example.com"}


@pytest.fixture(scope="module")
def running(broker, tmp_path_factory):
    s, process, api = own_api(broker.bootstrap, tmp_path_factory.mktemp("api"), api_rate_limit_per_minute=1000)
    yield s, api
    process.stop()


@pytest.fixture
def fresh(running):
    """A key of this test's own."""
    s, api = running
    return s, Api(api.base, create_key(s, "test"))


def test_keys_made_and_revoked_by_the_cli_take_effect(fresh):
    s, api = fresh
    problem(api.call("GET", "/v1/hooks", key=api.key + "x"), 401)
    reader = Api(api.base, create_key(s, "reader", "read"))
    assert reader.call("GET", "/v1/hooks").status_code == 200
    body = problem(reader.call("DELETE", "/v1/subscriptions/anything"), 403, "forbidden")
    assert "scope 'read'" in body["detail"] and "needs 'write'" in body["detail"]

    # A secret is URL-safe base64 and may itself hold "_": split the way the API does.
    key_id, secret = split_key(reader.key)
    revoked = api_keys(s, "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    listed = api_keys(s, "list")
    assert key_id not in listed.stdout and secret not in listed.stdout

    deadline = time.monotonic() + 15
    while reader.call("GET", "/v1/hooks").status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works"
        time.sleep(0.2)


def _max_message_bytes(s, topic: str, value: str) -> None:
    async def alter() -> None:
        admin = KafkaConnection(s).admin()
        await admin.start()
        try:
            resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": value})
            await admin.alter_configs([resource])
        finally:
            await admin.close()

    asyncio.run(alter())


def test_a_record_kafka_refuses_for_good_is_a_413_that_names_the_cause(fresh):
    s, api = fresh
    topic = Topics(s).subscriptions
    # an earlier write to the partition: the producer's sequence there is past 0 (a first write would not show it)
    assert api.call("PUT", "/v1/subscriptions/refused", json=SUBSCRIPTION).status_code in (200, 201)
    _max_message_bytes(s, topic, "1024")  # the topic's own limit, under CDP_MAX_EVENT_BYTES
    try:
        big = dict(SUBSCRIPTION, labels={f"k{i}": "v" * 100 for i in range(20)})  # about 2.3 KB
        body = problem(api.call("PUT", "/v1/subscriptions/refused", json=big), 413)
        assert "Kafka refused the record (MessageSizeTooLargeError" in body["detail"]
        assert "will fail again" in body["detail"] and "Retry-After" not in body
        # aiokafka's idempotent producer alone stays desynchronised on that partition after a refusal
        for threshold in (1, 2, 3):
            small = api.call("PUT", "/v1/subscriptions/refused", json={**SUBSCRIPTION, "threshold": threshold})
            assert small.status_code in (200, 201), small.text
    finally:
        _max_message_bytes(s, topic, "1048588")  # Kafka's default
