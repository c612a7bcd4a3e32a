"""The console's pages in process (``TestClient``, a memory store): sign-in sessions, the checks on every change
(CSRF token, Sec-Fetch-Site, the key's scope, enforced on the server), the subscription forms with the API's
validation messages next to their fields, and the strict CSP the pages live under."""

from __future__ import annotations

import re

import pytest

from schemas.apikeys import split_key
from tests.support.memory_store import InProcessApi, in_process_api


@pytest.fixture
def api():
    with in_process_api(scope="write") as api:
        api.client.follow_redirects = False
        yield api


def sign_in(api: InProcessApi, key: str | None = None) -> str:
    """Sign in with ``key`` (the fixture's): the CSRF token of the new session (its cookie is in the client)."""
    answer = api.client.post("/ui/sign-in", data={"key": key or api.key})
    assert answer.status_code == 303 and answer.headers["location"] == "subscriptions", answer.text
    page = api.client.get("/ui/subscriptions")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


SUB = {
    "subscription_id": "vip-1000",
    "entity_kind": "segment",
    "entity_id": "vip",
    "threshold": "1000",
    "recovery_threshold": "950",
    "owner": "ann@example.com",
    "labels": "team=growth",
}


def test_signing_in_keeps_a_session_in_an_http_only_strict_cookie_and_never_the_key(api):
    assert api.client.get("/ui/subscriptions").headers["location"] == "sign-in"
    wrong = api.client.post("/ui/sign-in", data={"key": "cdpk_000000000000_nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.text and 'aria-invalid="true"' in wrong.text
    answer = api.client.post("/ui/sign-in", data={"key": api.key})
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
    assert api.key not in cookie and split_key(api.key)[1] not in cookie
    first = api.client.cookies.get("cdp-console")
    sign_in(api)  # again: a new session; the old token is worth nothing
    assert api.client.cookies.get("cdp-console") != first
    api.client.cookies.clear()
    api.client.cookies.set("cdp-console", first)
    assert api.client.get("/ui/subscriptions").status_code == 303


def test_every_page_is_under_a_strict_csp_with_no_inline_script_or_style(api):
    csrf = sign_in(api)
    assert api.client.post("/ui/subscriptions/new", data={**SUB, "csrf": csrf}).status_code == 303
    for path in (
        "/ui/sign-in",
        "/ui/subscriptions",
        "/ui/subscriptions/new",
        "/ui/subscriptions/vip-1000",
        "/ui/subscriptions/vip-1000/edit",
        "/ui/subscriptions/nope",
        "/ui/trigger-types",
        "/ui/hooks",
    ):
        answer = api.client.get(path)
        assert answer.status_code in (200, 404), (path, answer.status_code)
        csp = answer.headers["content-security-policy"]
        assert "script-src" not in csp and "default-src 'none'" in csp and "style-src 'self'" in csp, csp
        assert "<script" not in answer.text and "style=" not in answer.text, path
        # every link relative: the console works under any prefix a proxy adds
        assert not re.findall(r'(?:href|action|src)="/', answer.text), path
        assert answer.headers["cache-control"] == "no-store"
    assert api.client.get("/ui/console.css").headers["content-type"].startswith("text/css")


def test_a_subscription_is_created_edited_and_deleted_from_its_forms(api):
    csrf = sign_in(api)
    created = api.client.post("/ui/subscriptions/new", data={**SUB, "csrf": csrf})
    assert created.status_code == 303 and created.headers["location"] == "vip-1000"
    stored = api.store.subscriptions.get("vip-1000")
    assert (stored.threshold, stored.rearm_below, stored.labels) == (1000, 950, {"team": "growth"})
    page = api.client.get("/ui/subscriptions/vip-1000").text
    assert "no worker answered" in page  # the in-process store has none: said in words
    again = api.client.post("/ui/subscriptions/new", data={**SUB, "csrf": csrf})
    assert again.status_code == 409 and "exists" in again.text
    edited = api.client.post("/ui/subscriptions/vip-1000/edit", data={**SUB, "threshold": "1200", "csrf": csrf})
    assert edited.status_code == 303 and edited.headers["location"] == "../vip-1000"
    assert api.store.subscriptions.get("vip-1000").threshold == 1200
    gone = api.client.post("/ui/subscriptions/vip-1000/delete", data={"csrf": csrf})
    assert gone.status_code == 303 and api.store.subscriptions.get("vip-1000") is None


def test_the_apis_validation_messages_stand_next_to_their_fields(api):
    csrf = sign_in(api)
    bad = api.client.post(
        "/ui/subscriptions/new", data={**SUB, "threshold": "many", "recovery_threshold": "", "csrf": csrf}
    )
    assert bad.status_code == 422
    assert re.search(r'id="threshold-error" class="error">[^<]*number', bad.text), bad.text
    assert 'value="vip"' in bad.text  # what was typed stays
    above = api.client.post("/ui/subscriptions/new", data={**SUB, "recovery_threshold": "2000", "csrf": csrf})
    assert above.status_code == 422
    assert re.search(r'id="recovery_threshold-error" class="error">[^<]*must not be above threshold', above.text)
    assert api.store.subscriptions.get("vip-1000") is None


def test_a_change_needs_the_sessions_token_this_origin_and_the_scope(api):
    csrf = sign_in(api)
    assert api.client.post("/ui/subscriptions/new", data=SUB).status_code == 403
    assert api.client.post("/ui/subscriptions/new", data={**SUB, "csrf": "forged"}).status_code == 403
    cross = api.client.post(
        "/ui/subscriptions/new", data={**SUB, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403 and "Sec-Fetch-Site" in cross.text
    reader = api.with_key("read")
    read_csrf = sign_in(api, reader.key)
    page = api.client.get("/ui/subscriptions").text
    assert "New subscription" not in page
    posted = api.client.post("/ui/subscriptions/new", data={**SUB, "csrf": read_csrf})  # the form, posted anyway
    assert posted.status_code == 403 and "needs &#39;write&#39;" in posted.text
    assert api.store.subscriptions.get("vip-1000") is None


def test_a_revoked_key_ends_its_sessions_at_the_next_request(api):
    sign_in(api)
    api.store.revoke(split_key(api.key)[0])
    assert api.client.get("/ui/subscriptions").headers["location"] == "sign-in"


def test_a_session_is_a_signed_cookie_that_ends_when_idle_past_its_lifetime_or_at_sign_out():
    from streams.api.console.sessions import REFRESH, Sessions, same_token

    held = Sessions.under(b"k" * 32, idle=600)
    token = held.open("k1", now=0)
    session = held.find(token, 599)
    assert session is not None and session.key_id == "k1"
    assert held.renewed(session, REFRESH - 1) is None  # not due: no new cookie on every page
    renewed = held.renewed(session, 599)
    assert held.find(token, 601) is None and held.find(renewed, 1199) is not None  # a page restarts the idle time
    assert held.find(renewed, held.lifetime + 1) is None  # however busy, it ends
    forged = token.replace("k1", "k2")
    signed, signature = token.rsplit(".", 1)
    # the first character of the signature carries six of its bits (the last may carry only padding)
    tampered = f"{signed}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    assert held.find(forged, 1) is None and held.find(tampered, 1) is None  # names another key, or altered: refused
    assert Sessions.under(b"x" * 32, idle=600).find(token, 1) is None  # another signing key
    assert held.find("a.b.c", 1) is None and held.find(None, 1) is None
    assert held.open("k1", 0) != token  # a new session id at every sign-in
    held.close(renewed, 700)
    assert held.find(token, 1) is None and held.find(renewed, 701) is None  # the session, all its cookies
    assert same_token(session.csrf, session.csrf) and not same_token(None, session.csrf)
    other = held.find(held.open("k1", 0), 1)
    assert other is not None and other.csrf != session.csrf  # per session


def test_a_session_signed_in_on_one_api_replica_is_served_by_another(api):
    """Replicas share the signing key, not memory: no sticky sessions needed behind a load balancer."""
    from fastapi.testclient import TestClient

    from streams.api.app import create_api

    csrf = sign_in(api)
    with TestClient(create_api(api.settings, api.store, api.metrics), base_url="http://127.0.0.1") as replica:
        replica.cookies.update(api.client.cookies)
        page = replica.get("/ui/subscriptions", follow_redirects=False)
        assert page.status_code == 200 and csrf in page.text
        made = replica.post("/ui/subscriptions/new", data={**SUB, "csrf": csrf}, follow_redirects=False)
        assert made.status_code == 303 and api.store.subscriptions.get("vip-1000") is not None


def test_the_operators_pages_need_the_operate_scope_whatever_the_page_showed(api):
    csrf = sign_in(api)  # a write key
    assert "Dead letters" not in api.client.get("/ui/subscriptions").text
    for path in ("/ui/overview", "/ui/deliveries", "/ui/dead-letters", "/ui/dead-letter?id=t/0/1"):
        refused = api.client.get(path)
        assert refused.status_code == 403 and "needs &#39;operate&#39;" in refused.text, path
    for path in ("/ui/deliveries/redeliver", "/ui/dead-letters/replay"):
        assert api.client.post(path, data={"csrf": csrf, "receiver": "hook", "confirm": "yes"}).status_code == 403
    posted = api.client.post("/ui/dead-letter/replay", data={"csrf": csrf, "id": "t/0/1", "event": "{}"})
    assert posted.status_code == 403


def test_every_change_is_recorded_with_who_when_and_through_which_door(api):
    csrf = sign_in(api)
    api.client.post("/ui/subscriptions/new", data={**SUB, "csrf": csrf})
    spec = {"entity_kind": "segment", "entity_id": "vip", "threshold": 100, "owner": "bob@example.com"}
    assert api.call("PUT", "/v1/subscriptions/other", json=spec).status_code == 201
    api.client.post("/ui/subscriptions/vip-1000/delete", data={"csrf": csrf})
    api.client.post("/ui/subscriptions/new", data={**SUB, "threshold": "x", "csrf": csrf})  # refused: not a change
    made = [(c.via, c.action, c.target) for c in api.store.recorded]
    assert made == [
        ("console", "subscription.put", "vip-1000"),
        ("api", "subscription.put", "other"),
        ("console", "subscription.delete", "vip-1000"),
    ]
    key_id = split_key(api.key)[0]
    assert all(c.by.startswith(f"api-key {key_id} (") for c in api.store.recorded)
    assert "created: segment/vip: threshold 1000, re-arms below 950" in api.store.recorded[0].detail
    listed = api.with_key("operate").call("GET", "/v1/changes")
    assert listed.status_code == 200 and [i["action"] for i in listed.json()["items"]][0] == "subscription.delete"
    assert api.call("GET", "/v1/changes").status_code == 403  # a write key: not an operator's


def test_the_subscriptions_list_goes_a_hundred_a_page_in_id_order(api):
    sign_in(api)
    spec = {"entity_kind": "segment", "entity_id": "vip", "threshold": 100, "owner": "bob@example.com"}
    for i in range(101):
        assert api.call("PUT", f"/v1/subscriptions/s{i:03d}", json=spec).status_code == 201
    first = api.client.get("/ui/subscriptions").text
    assert first.count("<tr><td>") == 100 and 'href="subscriptions?after=s099"' in first
    second = api.client.get("/ui/subscriptions?after=s099").text
    assert second.count("<tr><td>") == 1 and "s100" in second and "Next page" not in second
