"""Bounded input, on the API served in process: a body over the limit is a 413
before it is read, each field limit is a 422 that names it (and is in the
OpenAPI document), and a record at the limits round-trips. A write Kafka
refuses for good is in ``test_api_on_kafka``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from schemas.subscriptions import MAX_LABELS
from tests.support.api import problem
from tests.support.memory_store import InProcessApi, in_process_api, memory_settings

BODY_LIMIT = 65_536
EVENT_LIMIT = 16_384


@pytest.fixture(scope="module")
def api():
    limits = memory_settings(
        api_max_body_bytes=BODY_LIMIT, max_event_bytes=EVENT_LIMIT, api_rate_limit_per_minute=100_000
    )
    with in_process_api(limits) as served:
        yield served


def subscription(**fields) -> dict:
    return {"entity_kind": "segment", "entity_id": "vip", "threshold": 10, "owner": "o@example.com", **fields}


def answer_to_a_partial_body(api: InProcessApi, headers: dict[str, str], first: bytes) -> tuple[int, dict]:
    """Call the app as its server would, with a body whose first bytes arrive and whose rest never does: an answer
    that comes is one given without the rest (the bound fails the test otherwise)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": "/v1/subscriptions/big",
        "raw_path": b"/v1/subscriptions/big",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"X-API-Key": api.key, **headers}.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    chunks = [{"type": "http.request", "body": first, "more_body": True}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict:
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the rest of the body never comes
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await asyncio.wait_for(api.client.app(scope, receive, send), 10)

    asyncio.run(call())
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


@pytest.mark.parametrize("declared", [BODY_LIMIT + 1, 10_000_000, 10_000_000_000])
def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(api, declared):
    headers = {"Content-Type": "application/json", "Content-Length": str(declared)}
    # 1 KiB of a body up to 10 GB: the answer cannot have waited for the rest, whatever its size
    status, body = answer_to_a_partial_body(api, headers, b"{" + b" " * 1023)
    assert status == 413 and body["type"] == "urn:cdp-triggers:problem:too-large"
    assert f"{BODY_LIMIT:,} bytes (CDP_API_MAX_BODY_BYTES)" in body["detail"]


def test_a_body_of_undeclared_length_is_refused_at_the_limit_not_at_its_end(api):
    # chunked on the wire: the server hands the app a body with no Content-Length, whose end never comes here
    over = b"{" + b" " * BODY_LIMIT
    status, body = answer_to_a_partial_body(api, {"Content-Type": "application/json"}, over)
    assert status == 413 and "CDP_API_MAX_BODY_BYTES" in body["detail"]


def test_the_reported_ten_megabyte_subscription_is_a_413_not_a_503(api):
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
def test_each_field_limit_is_a_422_that_names_it(api, method, path, payload, field, limit):
    body = problem(api.call(method, path, json=payload), 422)
    named = [e for e in body["errors"] if e["field"].startswith(field)]
    assert named and limit in named[0]["message"], body
    assert "retry" not in body["detail"]


def test_the_limits_are_in_the_openapi_document(api):
    schemas = api.call("GET", "/openapi.json").json()["components"]["schemas"]
    spec = schemas["SubscriptionSpec"]["properties"]
    assert spec["labels"]["maxProperties"] == MAX_LABELS
    assert spec["labels"]["propertyNames"]["maxLength"] == 128
    assert spec["labels"]["additionalProperties"]["maxLength"] == 512
    assert spec["owner"]["maxLength"] == 320
    hook = schemas["HookRequest"]["properties"]
    assert hook["url"]["maxLength"] == 2048 and hook["types"]["maxItems"] == 7
    assert hook["description"]["maxLength"] == 256


def test_a_subscription_at_every_limit_is_accepted_and_round_trips(api):
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


def test_requests_that_read_kafka_take_a_slot_and_past_the_wait_are_told_to_retry(monkeypatch):
    """CDP_API_KAFKA_READS=1: while one read runs, a second waits, then gets 503 with Retry-After, counted; reads
    that need no slot go on; once the first ends, the next is served."""
    import asyncio
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from streams.api import deps
    from tests.support.memory_store import in_process_api, memory_settings

    monkeypatch.setattr(deps, "READ_SLOT_WAIT", 0.3)
    gate, entered = threading.Event(), threading.Event()
    with in_process_api(memory_settings(api_kafka_reads=1), scope="operate") as api:
        plain_changes = api.store.changes

        async def slow_changes(since):
            entered.set()
            await asyncio.to_thread(gate.wait, 10)
            return await plain_changes(since)

        api.store.changes = slow_changes
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(api.call, "GET", "/v1/changes")
            assert entered.wait(10)
            busy = api.call("GET", "/v1/changes")
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
            assert "CDP_API_KAFKA_READS" in busy.json()["detail"]
            assert api.call("GET", "/v1/subscriptions").status_code == 200  # reads memory: no slot
            gate.set()
            assert first.result(10).status_code == 200
        assert api.call("GET", "/v1/changes").status_code == 200
        assert api.metrics.api_busy._value.get() == 1
