"""The API's answers, served in process on a store in memory: keys and scopes
(401 vs 403), the SSRF guard, problem details naming the field, nothing written
on a bad request, the rate limit, and the OpenAPI document (generated ==
committed, valid OpenAPI 3). What needs Kafka is in ``test_api_on_kafka``."""

from __future__ import annotations

import json
import re

import pytest

from devtools.processes import ROOT
from schemas.apikeys import split_key
from tests.support.api import problem
from tests.support.memory_store import InProcessApi, in_process_api, memory_settings

COMMITTED = ROOT / "schemas" / "json" / "openapi.json"


@pytest.fixture(scope="module")
def served():
    with in_process_api(memory_settings(api_rate_limit_per_minute=20)) as api:
        yield api


@pytest.fixture
def api(served: InProcessApi) -> InProcessApi:
    """A key of this test's own: the limit of 20 requests a minute is per key."""
    return served.with_key()


def test_keys_missing_invalid_too_weak_and_revoked(api):
    problem(api.call("GET", "/v1/hooks", key=""), 401, "unauthorized")
    problem(api.call("GET", "/v1/hooks", key="cdpk_000000000000_nope"), 401)
    problem(api.call("GET", "/v1/hooks", key=api.key + "x"), 401)
    reader = api.with_key("read")
    assert reader.call("GET", "/v1/hooks").status_code == 200
    body = problem(reader.call("DELETE", "/v1/subscriptions/anything"), 403, "forbidden")
    assert "scope 'read'" in body["detail"] and "needs 'write'" in body["detail"]
    key_id, _ = split_key(reader.key)
    api.store.revoke(key_id)
    problem(reader.call("GET", "/v1/hooks"), 401)


def test_no_key_is_accepted_while_the_key_list_is_not_current(api):
    api.store.keys_current = False
    try:
        body = problem(api.call("GET", "/v1/hooks"), 503)
        assert api.call("GET", "/v1/hooks").headers["Retry-After"] and "key list" in body["detail"]
    finally:
        api.store.keys_current = True


@pytest.mark.parametrize(
    "url, why",
    [
        ("https://127.0.0.1:9/x", "127.0.0.1"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("https://localhost/hook", "127.0.0.1"),
        ("http://example.com/hook", "must use https"),
    ],
)
def test_callbacks_to_private_addresses_or_plain_http_are_refused(api, url, why):
    body = problem(
        api.call("POST", "/v1/hooks", json={"url": url, "types": ["datasource.refresh.failed"]}),
        422,
        "callback-not-allowed",
    )
    assert body["errors"][0]["field"] == "body.url" and why in body["detail"]
    assert api.store.written == []


def test_unknown_trigger_types_are_named(api):
    body = problem(
        api.call("POST", "/v1/hooks", json={"url": "https://example.com/h", "types": ["segment.grew"]}),
        422,
        "invalid-request",
    )
    assert body["errors"][0]["field"] == "body.types.0" and "segment.threshold.crossed" in body["errors"][0]["message"]
    body = problem(
        api.call("POST", "/v1/trigger-types/segment.grew/hooks", json={"url": "https://example.com/h"}),
        404,
        "not-found",
    )
    assert "segment.grew" in body["detail"]
    problem(api.call("GET", "/v1/trigger-types/segment.grew"), 404)


def test_a_bad_subscription_names_the_field_and_writes_nothing(api):
    before = len(api.store.written)
    spec = {"entity_kind": "segment", "entity_id": "vip", "threshold": 10, "recovery_threshold": 20, "owner": "o"}
    body = problem(api.call("PUT", "/v1/subscriptions/bad-1", json=spec), 422)
    assert "recovery_threshold (20.0) must not be above threshold" in body["detail"]
    body = problem(
        api.call(
            "PUT",
            "/v1/subscriptions/bad-1",
            json={"entity_kind": "planet", "entity_id": "vip", "threshold": 10, "owner": "o"},
        ),
        422,
    )
    assert body["errors"][0]["field"] == "body.entity_kind"
    problem(
        api.call("PUT", "/v1/subscriptions/bad-1", data=b"{not json", headers={"Content-Type": "application/json"}), 422
    )
    problem(api.call("GET", "/v1/subscriptions/bad-1"), 404)
    assert len(api.store.written) == before


def test_subscriptions_round_trip_and_page(api):
    for i in range(3):
        body = {
            "entity_kind": "measure",
            "entity_id": "revenue",
            "threshold": 100 + i,
            "owner": "o",
            "labels": {"team": "finance"},
        }
        assert api.call("PUT", f"/v1/subscriptions/page-{i}", json=body).status_code == 201
    replaced = api.call("PUT", "/v1/subscriptions/page-0", json={**body, "threshold": 7})
    assert replaced.status_code == 200 and replaced.json()["threshold"] == 7
    first = api.call("GET", "/v1/subscriptions", params={"limit": 2, "after": "page-"}).json()
    assert [s["subscription_id"] for s in first["items"]] == ["page-0", "page-1"] and first["next_after"] == "page-1"
    rest = api.call("GET", "/v1/subscriptions", params={"limit": 2, "after": "page-1"}).json()
    assert [s["subscription_id"] for s in rest["items"]] == ["page-2"] and not rest.get("next_after")
    assert api.call("DELETE", "/v1/subscriptions/page-2").status_code == 204
    problem(api.call("DELETE", "/v1/subscriptions/page-2"), 404)
    # what reached the subscriptions topic: three creations, a replacement and a tombstone, keyed by id
    written = [(w.key, w.value is None) for w in api.store.written if w.topic == api.store.topics.subscriptions]
    assert written[-5:] == [(b"page-0", False), (b"page-1", False), (b"page-2", False), (b"page-0", False),
                            (b"page-2", True)]  # fmt: skip


def test_trigger_types_have_samples_and_schemas(api):
    items = api.call("GET", "/v1/trigger-types").json()["items"]
    assert len(items) == 7 and sum(t["in_product"] for t in items) == 6
    crossed = next(t for t in items if t["name"] == "segment.threshold.crossed")
    assert crossed["sample"]["type"] == crossed["type"] and crossed["sample"]["subject"] == "segment/vip"
    assert set(crossed["sample"]["data"]) <= set(crossed["data_schema"]["properties"])


def test_the_rate_limit_answers_429_with_retry_after(api):
    limited = api.with_key("read")
    answers = [limited.call("GET", "/v1/trigger-types") for _ in range(25)]
    assert [a.status_code for a in answers[:20]] == [200] * 20
    body = problem(answers[-1], 429, "rate-limited")
    assert int(answers[-1].headers["Retry-After"]) >= 1 and "20 requests a minute" in body["detail"]
    assert api.call("GET", "/v1/trigger-types").status_code == 200  # other keys are not limited


def test_the_openapi_document_is_committed_and_valid(api):
    from openapi_spec_validator import validate

    served = api.call("GET", "/openapi.json").json()
    validate(served)
    assert served["openapi"].startswith("3.")
    assert json.loads(COMMITTED.read_text()) == served, (
        "schemas/json/openapi.json is stale: run 'cdp-triggers schemas export'"
    )


def test_every_operation_has_a_readable_id_summary_and_description(api):
    """What Swagger UI, generated clients, Power Automate and the docs' table show for each operation."""
    served = api.call("GET", "/openapi.json").json()
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert re.fullmatch(r"[a-z]+([A-Z][a-z]*)*", operation["operationId"]), where
            assert operation.get("description"), f"{where}: no docstring"
            default = operation["operationId"].replace("_", " ").title()  # FastAPI's own summary
            assert operation["summary"] != default and " " in operation["summary"], where


def test_api_answers_forbid_framing_and_sniffing(api):
    answer = api.call("GET", "/v1/trigger-types")
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_explain_needs_a_key_names_a_wrong_kind_and_says_when_no_worker_answers(api):
    problem(api.call("GET", "/v1/explain/segment/vip", key=""), 401)
    problem(api.call("GET", "/v1/explain/table/vip"), 422)
    body = problem(api.with_key("read").call("GET", "/v1/explain/segment/vip"), 503)
    assert "no worker answered for segment 'vip'" in body["detail"]
    problem(api.call("GET", "/v1/explain/subscription/nope"), 404)
