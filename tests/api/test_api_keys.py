"""API keys managed with an admin key, in process: through the JSON API and the console's page. Only an admin key
reaches them; an admin key cannot be made here (only with the CLI), nor revoke itself; the secret is shown once."""

from __future__ import annotations

import re

import pytest

from schemas.apikeys import split_key
from tests.support.memory_store import in_process_api


@pytest.fixture
def api():
    with in_process_api(scope="admin") as api:
        yield api


def test_an_admin_key_creates_a_key_that_works_at_once_and_lists_keys_without_secrets(api):
    made = api.call("POST", "/v1/api-keys", json={"name": "ops-bot", "scope": "operate"})
    assert made.status_code == 201, made.text
    body = made.json()
    key_id, secret = split_key(body["key"])
    assert body["key_id"] == key_id and body["scope"] == "operate"
    assert body["created_by"] == f"api-key {split_key(api.key)[0]} (tests)"
    assert api.call("GET", "/v1/subscriptions", key=body["key"]).status_code == 200
    assert api.call("GET", "/v1/api-keys", key=body["key"]).status_code == 403  # operate is not admin
    listed = api.call("GET", "/v1/api-keys")
    assert listed.status_code == 200
    assert [k["key_id"] for k in listed.json()["items"]] == [split_key(api.key)[0], key_id]
    assert secret not in listed.text and "sha256" not in listed.text
    assert [(c.action, c.target) for c in api.store.recorded] == [("api-key.create", key_id)]
    assert secret not in api.store.recorded[0].detail


def test_a_revoked_key_is_refused_at_once_and_a_key_cannot_revoke_itself(api):
    made = api.call("POST", "/v1/api-keys", json={"name": "flow", "scope": "read"}).json()
    assert api.call("GET", "/v1/subscriptions", key=made["key"]).status_code == 200
    assert api.call("DELETE", f"/v1/api-keys/{made['key_id']}").status_code == 204
    assert api.call("GET", "/v1/subscriptions", key=made["key"]).status_code == 401
    assert api.call("DELETE", f"/v1/api-keys/{made['key_id']}").status_code == 404
    mine = split_key(api.key)[0]
    itself = api.call("DELETE", f"/v1/api-keys/{mine}")
    assert itself.status_code == 409 and "another admin key or the CLI" in itself.json()["detail"]
    assert [c.action for c in api.store.recorded] == ["api-key.create", "api-key.revoke"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "x", "scope": "admin"}, "body.scope"), ({"name": "", "scope": "read"}, "body.name")],
)
def test_an_admin_key_is_not_made_through_the_api_and_a_bad_field_is_named(api, body, field):
    refused = api.call("POST", "/v1/api-keys", json=body)
    assert refused.status_code == 422
    assert field in [e["field"] for e in refused.json()["errors"]]


@pytest.mark.parametrize("scope", ["read", "write", "operate", "publish"])
def test_no_other_scope_reaches_the_keys(api, scope):
    other = api.with_key(scope)
    assert other.call("GET", "/v1/api-keys").status_code == 403
    assert other.call("POST", "/v1/api-keys", json={"name": "x", "scope": "read"}).status_code == 403
    assert other.call("DELETE", f"/v1/api-keys/{split_key(api.key)[0]}").status_code == 403


def _sign_in(api, key):
    api.client.cookies.clear()
    assert api.client.post("/ui/sign-in", data={"key": key}, follow_redirects=False).status_code == 303
    page = api.client.get("/ui/subscriptions")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1), page.text


def test_the_console_creates_a_key_shown_once_and_revokes_one(api):
    csrf, home = _sign_in(api, api.key)
    assert 'href="api-keys"' in home
    made = api.client.post("/ui/api-keys/new", data={"name": "marketing flow", "scope": "write", "csrf": csrf})
    assert made.status_code == 201
    full = re.search(r'id="new-key" readonly value="([^"]+)"', made.text).group(1)
    key_id, secret = split_key(full)
    assert api.call("GET", "/v1/hooks", key=full).status_code == 200
    again = api.client.get("/ui/api-keys")
    assert key_id in again.text and secret not in again.text and "marketing flow" in again.text
    wrong = api.client.post("/ui/api-keys/new", data={"name": "", "scope": "admin", "csrf": csrf})
    assert wrong.status_code == 422 and 'id="scope-error"' in wrong.text and 'id="name-error"' in wrong.text
    without_token = api.client.post("/ui/api-keys/revoke", data={"key_id": key_id})
    assert without_token.status_code == 403
    revoked = api.client.post("/ui/api-keys/revoke", data={"key_id": key_id, "csrf": csrf})
    assert revoked.status_code == 200 and 'id="revoked"' in revoked.text
    assert api.call("GET", "/v1/hooks", key=full).status_code == 401
    assert [(c.via, c.action) for c in api.store.recorded] == [
        ("console", "api-key.create"),
        ("console", "api-key.revoke"),
    ]


def test_the_console_keys_page_is_refused_to_every_other_scope_even_by_a_direct_post(api):
    operate = api.store.add_key("operate")
    csrf, home = _sign_in(api, operate)
    assert 'href="api-keys"' not in home
    assert api.client.get("/ui/api-keys").status_code == 403
    posted = api.client.post("/ui/api-keys/new", data={"name": "x", "scope": "read", "csrf": csrf})
    assert posted.status_code == 403
    assert api.store.recorded == []
