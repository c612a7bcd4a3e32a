"""Bounded input on a real API and broker: a body over the limit is a 413 before
it is read, each field limit is a 422 that names it (and is in the OpenAPI
document), a record at the limits round-trips, and a write Kafka refuses for
good is a 4xx that names why, never "retry later"."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.subscriptions import MAX_LABELS
from streams.runtime.kafka import KafkaConnection
from streams.topics import Topics
from tests.support.api import Api, create_key, own_api

pytestmark = pytest.mark.broker
BODY_LIMIT = 65_536
EVENT_LIMIT = 16_384


@pytest.fixture(scope="module")
def running(broker, tmp_path_factory):
    s, process, api = own_api(
        broker.bootstrap,
        tmp_path_factory.mktemp("limits"),
        api_max_body_bytes=BODY_LIMIT,
        max_event_bytes=EVENT_LIMIT,
        api_rate_limit_per_minute=100_000,
    )
    yield s, api
    process.stop()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json()


def subscription(**fields) -> dict:
    return {"entity_kind": "segment", "entity_id": "vip", "threshold": 10, "owner": "o@example.com", **fields}


def raw_request(api: Api, head: str, first_bytes: bytes) -> bytes:
    """Send the head and only the start of a body, then read what the API answers: an answer that came is one
    given without the rest of the body (the socket's timeout fails the test otherwise)."""
    port = int(api.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(head.encode() + first_bytes)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 20:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return status, json.loads(body[:length])


@pytest.mark.parametrize("declared", [BODY_LIMIT + 1, 10_000_000, 10_000_000_000])
def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(running, declared):
    _, api = running
    head = (
        f"PUT /v1/subscriptions/big HTTP/1.1\r\nHost: x\r\nX-API-Key: {api.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    # 1 KiB of a body up to 10 GB: the answer cannot have waited for the rest, whatever its size
    status, body = status_and_body(raw_request(api, head, b"{" + b" " * 1023))
    assert status == 413 and body["type"] == "urn:cdp-triggers:problem:too-large"
    assert f"{BODY_LIMIT:,} bytes (CDP_API_MAX_BODY_BYTES)" in body["detail"]


def test_a_chunked_body_is_refused_at_the_limit_not_at_its_end(running):
    _, api = running
    head = (
        f"PUT /v1/subscriptions/big HTTP/1.1\r\nHost: x\r\nX-API-Key: {api.key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * 8192
    over = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(BODY_LIMIT // len(chunk) + 1))
    # the body's last chunk (0) is never sent: only a refusal at the limit can answer
    status, body = status_and_body(raw_request(api, head, b"1\r\n{\r\n" + over))
    assert status == 413 and "CDP_API_MAX_BODY_BYTES" in body["detail"]


def test_the_reported_ten_megabyte_subscription_is_a_413_not_a_503(running):
    _, api = running
    labels = {f"label-{i}": "x" * 80 for i in range(100_000)}
    body = problem(api.call("PUT", "/v1/subscriptions/s2", json=subscription(labels=labels)), 413)
    assert "CDP_API_MAX_BODY_BYTES" in body["detail"] and "retry" not in body["detail"]
    problem(api.call("GET", "/v1/subscriptions/s2"), 404)


LONG = "x" * 300


@pytest.mark.parametrize(
    "method, path, payload, field, limit",
    [
        ("PUT", "/v1/subscriptions/a", subscription(labels={f"k{i}": "v" for i in range(65)}), "body.labels", "64"),
        ("PUT", "/v1/subscriptions/a", subscription(labels={"k" * 129: "v"}), "body.labels", "128"),
        ("PUT", "/v1/subscriptions/a", subscription(labels={"k": "v" * 513}), "body.labels.k", "512"),
        ("PUT", "/v1/subscriptions/a", subscription(owner="o" * 321), "body.owner", "320"),
        ("PUT", "/v1/subscriptions/a", subscription(entity_id=LONG), "body.entity_id", "256"),
        ("PUT", f"/v1/subscriptions/{LONG}", subscription(), "path.subscription_id", "256"),
        ("POST", "/v1/hooks", {"url": "https://example.com/" + "p" * 2040, "types": ["segment.threshold.crossed"]},
         "body.url", "2048"),
        ("POST", "/v1/hooks", {"url": "https://example.com/h", "types": ["segment.threshold.crossed"] * 8},
         "body.types", "7"),
        ("POST", "/v1/hooks", {"url": "https://example.com/h", "types": ["segment.threshold.crossed"],
                               "description": "d" * 257}, "body.description", "256"),
        ("POST", "/v1/hooks", {"url": "https://example.com/h", "types": ["segment.threshold.crossed"],
                               "filter": {"labels": {f"k{i}": "v" for i in range(65)}}}, "body.filter.labels", "64"),
    ],
)  # fmt: skip
def test_each_field_limit_is_a_422_that_names_it(running, method, path, payload, field, limit):
    _, api = running
    body = problem(api.call(method, path, json=payload), 422)
    named = [e for e in body["errors"] if e["field"].startswith(field)]
    assert named and limit in named[0]["message"], body
    assert "retry" not in body["detail"]


def test_the_limits_are_in_the_openapi_document(running):
    _, api = running
    schemas = api.call("GET", "/openapi.json").json()["components"]["schemas"]
    spec = schemas["SubscriptionSpec"]["properties"]
    assert spec["labels"]["maxProperties"] == MAX_LABELS
    assert spec["labels"]["propertyNames"]["maxLength"] == 128
    assert spec["labels"]["additionalProperties"]["maxLength"] == 512
    assert spec["owner"]["maxLength"] == 320
    hook = schemas["HookRequest"]["properties"]
    assert hook["url"]["maxLength"] == 2048 and hook["types"]["maxItems"] == 7
    assert hook["description"]["maxLength"] == 256


def test_a_subscription_at_every_limit_is_accepted_and_round_trips(running):
    _, api = running
    at_limit = subscription(
        entity_id="e" * 256,
        owner="o" * 320,
        labels={f"{i:03d}".ljust(128, "k")[:128]: "v" * 512 for i in range(MAX_LABELS)},
    )
    # within the field limits, but over this API's CDP_MAX_EVENT_BYTES (16 KiB) once encoded: refused, naming it
    body = problem(api.call("PUT", "/v1/subscriptions/" + "s" * 256, json=at_limit), 413)
    assert f"over the limit of {EVENT_LIMIT:,} (CDP_MAX_EVENT_BYTES)" in body["detail"]

    fits = {**at_limit, "labels": dict(list(at_limit["labels"].items())[:20])}  # 20 x 640 bytes: under 16 KiB
    created = api.call("PUT", "/v1/subscriptions/" + "s" * 256, json=fits)
    assert created.status_code == 201, created.text
    read = api.call("GET", "/v1/subscriptions/" + "s" * 256).json()
    assert {k: read[k] for k in fits} == {**fits, "threshold": 10.0}


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


def test_a_record_kafka_refuses_for_good_is_a_413_that_names_the_cause(running):
    s, api = running
    topic = Topics(s).subscriptions
    # an earlier write to the partition: the producer's sequence there is past 0 (a first write would not show it)
    assert api.call("PUT", "/v1/subscriptions/refused", json=subscription()).status_code in (200, 201)
    _max_message_bytes(s, topic, "1024")  # the topic's own limit, under CDP_MAX_EVENT_BYTES
    try:
        big = subscription(labels={f"k{i}": "v" * 100 for i in range(20)})  # about 2.3 KB
        body = problem(api.call("PUT", "/v1/subscriptions/refused", json=big), 413)
        assert "Kafka refused the record (MessageSizeTooLargeError" in body["detail"]
        assert "will fail again" in body["detail"] and "Retry-After" not in body
        # aiokafka's idempotent producer alone stays desynchronised on that partition after a refusal
        for threshold in (1, 2, 3):
            small = api.call("PUT", "/v1/subscriptions/refused", json=subscription(threshold=threshold))
            assert small.status_code in (200, 201), small.text
    finally:
        _max_message_bytes(s, topic, "1048588")  # Kafka's default


def test_api_answers_forbid_framing_and_sniffing(running):
    s, api = running
    answer = Api(api.base, create_key(s, "headers", "read")).call("GET", "/v1/trigger-types")
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
