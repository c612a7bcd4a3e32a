"""The console in Chromium on real parts: broker, worker, the API process. A segment owner signs in, is told what
a wrong field means, creates a subscription, values flow, and the subscription's page shows the crossing on its
chart and explains the later value that did not fire. Every request outside the API is aborted, and the pages
must run with no console error and no CSP violation. A read key sees no change control, and its direct post is
refused by the server."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import builders as b
from tests.support.api import api_settings, create_key, start_api
from tests.support.browser import chromium, distinct_colours
from tests.support.metrics import wait_for_metric
from tests.support.scenario import settle_pipeline
from tests.support.waiting import wait_for

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
pytestmark = [pytest.mark.broker, pytest.mark.subprocess, pytest.mark.browser]


EXPECTED = "Failed to load resource: the server responded with a status of 422"  # a form sent back, on purpose


def console_page(opener, base: str, problems: list[str]):
    """A page (of a browser, or of a context with cookies of its own) that may reach the API only, recording
    every console error, CSP violation and script error."""
    page = (
        opener.new_page(viewport={"width": 1280, "height": 900}) if hasattr(opener, "contexts") else opener.new_page()
    )
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") and EXPECTED not in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return page


def shoot(page, name: str, tmp_path: Path) -> None:
    """A picture of the page as this test sees it: the Console docs' own when './dev docs-images' runs the test
    (it sets CDP_DOCS_IMAGES), so the docs show what the tests check."""
    shot = (DOCS_IMAGES if os.environ.get("CDP_DOCS_IMAGES") else tmp_path) / name
    page.screenshot(path=str(shot), full_page=True)
    assert distinct_colours(shot) > 4


def sign_in(page, base: str, key: str) -> None:
    page.goto(base + "/ui/")
    assert page.url.endswith("/ui/sign-in")
    page.fill("#key", key)
    page.click("button[type=submit]")
    assert page.url.endswith("/ui/subscriptions"), page.url


def test_a_segment_owner_sets_a_threshold_and_sees_why_it_fired_and_then_did_not(
    kafka, settings, worker, worker_factory, tmp_path
):
    import yaml

    from tests.support.dispatcher import dispatcher_settings
    from tests.support.receivers import HttpReceiver

    s = api_settings(settings)
    process, api = start_api(s, tmp_path / "api.log", "write")
    reader = create_key(s, "viewer", "read")
    problems: list[str] = []
    try:
        with HttpReceiver() as teams, chromium() as browser:
            routes = {
                "receivers": [{"name": "marketing-channel", "teams": {"url": {"env": "T_TEAMS_URL"}}}],
                "route": {"receiver": "marketing-channel"},
            }
            (tmp_path / "routes.yaml").write_text(yaml.safe_dump(routes))
            env = {"CDP_ROUTES_FILE": str(tmp_path / "routes.yaml"), "T_TEAMS_URL": teams.url("/teams")}
            worker_factory(dispatcher_settings(s), "dispatcher", "dispatcher", env).start()
            page = console_page(browser, api.base, problems)
            sign_in(page, api.base, api.key)
            page.click("text=New subscription")
            page.fill("#subscription_id", "vip-1000")
            page.fill("#entity_id", "vip")
            page.fill("#threshold", "1000")
            page.fill("#recovery_threshold", "1200")  # above the threshold: refused, next to its field
            page.fill("#owner", "ann@example.com")
            page.click("button:has-text('Save')")
            assert "must not be above threshold" in page.inner_text("#recovery_threshold-error")
            page.fill("#recovery_threshold", "950")
            page.click("button:has-text('Save')")
            assert page.url.endswith("/ui/subscriptions/vip-1000"), page.url
            wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")

            for event_id, at, count in (("v1", 0, 900), ("v2", 60, 1012), ("v3", 120, 990)):
                kafka.produce(worker.topics.segments, "vip", b.segment("vip", count, at, event_id=event_id))
            kafka.flush()

            def shown() -> bool:
                page.reload()
                return page.locator("tr.outcome-waiting").count() == 1

            wait_for(shown, 60, "the three values on the subscription's page")
            rows = page.locator("tbody tr").all_inner_texts()
            assert [re.search(r"(fired|waiting|baseline)", r).group(1) for r in rows] == [
                "waiting",
                "fired",
                "baseline",
            ]
            assert "waiting" in page.inner_text("p.status") and "Last trigger" in page.inner_text("main")
            assert page.locator("svg.chart circle.fired").count() == 1
            assert page.locator("svg.chart circle.value").count() == 2
            shoot(page, "console-subscription.png", tmp_path)

            trigger_id = page.inner_text("p:has-text('Last trigger') code")
            # the list: the latest value against the threshold, and the state, as the worker answers now
            page.click("nav >> text=Subscriptions")
            row = page.inner_text("tbody tr")
            assert "990" in row and "waiting" in row, row
            # the trigger in the feed (its events are a month old: the feed is asked from then), and its page
            page.goto(api.base + "/ui/triggers?type=segment.threshold.crossed&since=2026-01-01T00:00:00Z&every=10")
            assert "type=segment.threshold.crossed" in page.url and page.locator("tbody tr").count() == 1
            # a live feed by polling, no script: the page reloads itself at an offered pace, and no faster
            assert page.get_attribute("meta[http-equiv=refresh]", "content") == "10"
            page.goto(api.base + "/ui/triggers?since=2026-01-01T00:00:00Z&every=1")
            assert page.locator("meta[http-equiv=refresh]").count() == 0
            page.goto(api.base + "/ui/triggers?type=segment.threshold.crossed&since=2026-01-01T00:00:00Z")
            page.click("tbody tr a")
            assert trigger_id in page.inner_text("main") and '"subscription_id": "vip-1000"' in page.inner_text("pre")
            # its Teams delivery, as it stands; the receiver's answers are an operator's, not a writer's
            wait_for(
                lambda: page.reload() or page.locator("#deliveries >> text=marketing-channel: delivered").count(),
                60,
                "the Teams delivery on the trigger's page",
            )
            assert len(teams.on("/teams")) == 1
            assert page.locator("h2:has-text('Delivery attempts')").count() == 0
            page.click("nav >> text=Trigger types")
            assert page.locator("section.kind").count() == 7

            page.click("header button:has-text('Sign out')")
            assert page.url.endswith("/ui/sign-in")
            sign_in(page, api.base, reader)
            assert page.locator("nav >> text=Dead letters").count() == 0  # operators' pages: not offered
            page.goto(api.base + "/ui/subscriptions/vip-1000")
            assert page.locator("text=Edit").count() == 0 and page.locator("button.danger").count() == 0
            csrf = page.get_attribute("input[name=csrf]", "value")
            posted = page.request.post(api.base + "/ui/subscriptions/vip-1000/delete", form={"csrf": csrf})
            assert posted.status == 403, posted.text()
            assert api.call("GET", "/v1/subscriptions/vip-1000").status_code == 200
    finally:
        process.stop()
    assert not problems, problems


def test_a_data_engineer_follows_refresh_runs_to_their_stall_deadline_and_completion(kafka, settings, worker, tmp_path):
    """The runs page lists the runs with events (newest first) with their owning worker's answer: tasks done of
    declared, what each waits for, when it stalls; a run's page has each task and the triggers it fired."""
    s = api_settings(settings)
    process, api = start_api(s, tmp_path / "api.log", "read")
    tasks = [("data_source", "crm"), ("unification", "map"), ("segment", "vip")]
    # today's times: an idle partition's clock follows the wall clock, and would stall and evict older runs
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    offset = (start - b.T0).total_seconds()
    events = [
        b.run_started("r-done", tasks, offset),
        *(b.task("r-done", k, n, "succeeded", offset + 60 + i) for i, (k, n) in enumerate(tasks)),
        b.run_started("r-open", tasks, offset + 100),
        b.task("r-open", "data_source", "crm", "succeeded", offset + 160),
        b.task("r-open", "unification", "map", "started", offset + 170),
    ]
    for event in events:
        kafka.produce(worker.topics.runs, event["run_id"], event)
    kafka.flush()
    problems: list[str] = []
    try:
        with chromium() as browser:
            page = console_page(browser, api.base, problems)
            sign_in(page, api.base, api.key)
            page.click("nav >> text=Runs")

            def listed() -> list[str] | None:
                page.reload()
                rows = page.locator("tbody tr").all_inner_texts()
                return sorted(rows, reverse=True) if len(rows) == 2 and "1 of 3" in "".join(rows) else None

            [open_run, done] = wait_for(
                listed,
                60,
                "both runs with their workers answers",
                lambda: page.inner_text("main"),
            )
            assert open_run.startswith("r-open") and "2 task(s)" in open_run and "unification:map" in open_run
            stalls = (start + timedelta(seconds=100 + s.stall_after_seconds)).isoformat()
            assert stalls in open_run, (stalls, open_run)  # an hour after its start
            assert done.startswith("r-done") and "3 of 3" in done and "nothing: it completed" in done
            assert done.split("\t")[5] == "full", (
                done
            )  # the full refresh completed; not unification (2 steps of 3 absent)
            page.click("text=r-open")
            assert "2 task(s)" in page.inner_text("#waiting")
            rows = page.locator("#tasks tbody tr").all_inner_texts()
            assert [r.split("\t")[:2] for r in rows] == [
                ["data_source:crm", "succeeded"],
                ["unification:map", "started"],
                ["segment:vip", "pending: no event yet"],
            ], rows
            shoot(page, "console-run.png", tmp_path)
            page.goto(api.base + "/ui/run?id=r-done")
            page.click("text=its triggers")
            [fired] = page.locator("tbody tr").all_inner_texts()  # its full refresh completed: in the feed
            assert "refresh-run/r-done" in fired and "full" in fired, fired
    finally:
        process.stop()
    assert not problems, problems


def test_an_operator_fixes_a_dead_letter_and_redelivers_after_an_outage_from_the_console(
    kafka, settings, worker, worker_factory, tmp_path
):
    """A receiver down long enough that every delivery is given up, then back: one bulk redeliver from the
    Deliveries page, after its preview count, delivers each event once. A malformed value is corrected in the
    dead letter's editor, checked, replayed, and its trigger fires once."""
    from collections import Counter

    from tests.delivery.test_redeliver import Outage
    from tests.support.dispatcher import dispatcher_settings, produce_triggers, routes_file
    from tests.support.receivers import HttpReceiver

    s = api_settings(settings)
    process, ops = start_api(s, tmp_path / "api.log", "operate")
    t = worker.topics
    problems: list[str] = []
    outage = Outage()
    try:
        with HttpReceiver(outage) as http, chromium() as browser:
            _, env = routes_file(tmp_path, http, None)
            dispatcher = worker_factory(dispatcher_settings(s), "dispatcher", "dispatcher", env)
            ids = produce_triggers(kafka, t.actions, 5, subjects=3)
            dispatcher.start()

            def given_up() -> int:
                return ops.call("GET", "/v1/deliveries/failed", params={"undelivered": "true"}).json()["total"]

            wait_for(lambda: given_up() == 5, 90, "5 deliveries given up", dispatcher.log)
            outage.down = False
            during = len(http.on("/hook"))

            page = console_page(browser, ops.base, problems)
            sign_in(page, ops.base, ops.key)
            page.click("nav >> text=Overview")
            assert "5 given-up deliveries not delivered since" in page.inner_text(".attention")
            shoot(page, "console-overview.png", tmp_path)
            page.click("a[href*='undelivered=on']")  # given up, undelivered: the Deliveries page, filtered
            assert "undelivered=on" in page.url
            page.click("nav >> text=Deliveries")
            assert "5 given up, 5 still undelivered" in page.inner_text("main")
            assert page.locator("td >> text=hook").count() >= 1  # the receivers' health, last hour
            page.fill("#f-receiver", "hook")
            page.click("button:has-text('Filter')")
            assert "receiver=hook" in page.url  # the filters live in the URL
            page.click("button:has-text('Redeliver these')")
            assert "5 would be redelivered" in page.inner_text("#preview")
            shoot(page, "console-redeliver.png", tmp_path)
            settle_pipeline(s)
            assert len(http.on("/hook")) == during, "the preview sent something"
            page.click("button:has-text('Redeliver 5')")
            assert "redeliver 5" in page.inner_text("#done")
            wait_for(lambda: given_up() == 0, 60, "the redeliveries", dispatcher.log)
            accepted = Counter(r.headers["webhook-id"] for r in http.on("/hook")[during:])
            assert set(accepted) == set(ids) and max(accepted.values()) == 1, accepted

            # one given-up delivery's permalink: delivered since, so redelivering it alone would send nothing
            page.goto(ops.base + "/ui/deliveries?receiver=hook")
            page.locator("a[href*='delivery?id=']").first.click()
            assert "/ui/delivery?id=" in page.url and page.inner_text("#status") == "delivered since"
            tried = page.locator("h2:has-text('Attempts') + table tbody tr").all_inner_texts()
            assert any("delivered" in row for row in tried), tried
            page.click("button:has-text('Redeliver this one')")
            assert "0 would be redelivered, 1 were delivered since" in page.inner_text("#preview")
            assert page.locator("button:has-text('Redeliver 0')").count() == 0

            # one redelivered trigger's page: its attempts, the failures and the delivery
            page.goto(ops.base + "/ui/triggers?since=2000-01-01T00:00:00Z&subject=segment/s0")
            page.click("tbody tr:first-child a")
            outcomes = page.locator("h2:has-text('Delivery attempts') + table tbody tr").all_inner_texts()
            assert any("retry" in o for o in outcomes) and any("delivered" in o for o in outcomes), outcomes

            kafka.produce(t.subscriptions, "vip-1000", b.subscription("vip-1000", "segment", "vip", 1000))
            kafka.flush()
            wait_for_metric(worker, "cdp_triggers_subscriptions_active 1.0")
            kafka.produce(t.segments, "vip", b.segment("vip", 900, 0, event_id="v1"))
            kafka.produce(t.segments, "vip", b.segment("vip", "many", 60, event_id="v2"))  # rejected
            kafka.flush()
            page.click("nav >> text=Dead letters")
            wait_for(lambda: page.reload() or page.locator("tbody tr").count() == 1, 30, "the dead letter")
            page.click("tbody tr a")
            fixed = page.input_value("#event").replace('"many"', "1200")
            page.fill("#event", fixed.replace("1200", "not json {"))
            page.click("button:has-text('Check')")
            assert page.locator("#event-error").count() == 1  # said next to the editor, nothing published
            page.fill("#event", fixed)
            page.click("button:has-text('Check')")
            assert "Valid" in page.inner_text("#checked")
            shoot(page, "console-dead-letter.png", tmp_path)
            page.click("button:has-text('Replay it')")
            assert "Replayed as event" in page.inner_text("#done")

            def crossings() -> list[dict]:
                found = [json.loads(m.value()) for m in kafka.read(t.actions, idle=2.0, timeout=30)]
                return [e for e in found if e["subject"] == "segment/vip"]

            [fired] = wait_for(crossings, 60, "the replayed value's trigger", worker.log)
            assert fired["data"]["value"] == 1200 and fired["data"]["previous_value"] == 900
            settle_pipeline(s)
            assert len(crossings()) == 1, "the replay fired twice"
    finally:
        process.stop()
    assert not problems, problems


def test_a_flow_owner_sends_a_test_event_to_a_hook_from_its_page(settings, worker_factory, tmp_path):
    """The hook's page sends one sample per type through the real signing and shows the callback's answer; the
    callback verifies the signature and sees the test mark."""
    from standardwebhooks import Webhook

    from tests.support.api import hooks_pipeline

    problems: list[str] = []
    with hooks_pipeline(settings, worker_factory, tmp_path) as (callback, s, api), chromium() as browser:
        created = api.call(
            "POST", "/v1/hooks", json={"url": callback.url("/flow"), "types": ["datasource.refresh.failed"]}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        page = console_page(browser, api.base, problems)
        sign_in(page, api.base, api.key)
        page.click("nav >> text=Hooks")
        page.click(f"text={hook['id']}")
        page.click("button:has-text('Send a test event')")
        row = page.inner_text("#tested tbody tr")
        assert "datasource.refresh.failed" in row and "yes" in row, row
        [request] = callback.on("/flow")
        event = Webhook(hook["secret"]).verify(request.body, request.headers)
        assert event["cdptest"] is True and event["id"] in row
    assert not problems, problems


PAGES = {  # page -> the scope it needs
    "/ui/subscriptions": "read",
    "/ui/triggers": "read",
    "/ui/trigger-types": "read",
    "/ui/hooks": "read",
    "/ui/runs": "read",
    "/ui/subscriptions/new": "write",
    "/ui/overview": "operate",
    "/ui/deliveries": "operate",
    "/ui/dead-letters": "operate",
    "/ui/changes": "operate",
    "/ui/api-keys": "admin",
}


def test_every_page_opens_for_each_scope_that_may_see_it_and_is_refused_to_the_others(settings, worker, tmp_path):
    """A smoke test on real parts: each page, for a read, a write, an operate and an admin key, answers 200 (with no
    console error and no CSP violation) or 403 as the key's scope says; the navigation offers only what the key may
    open. The admin key then makes a key on the API keys page (written to Kafka and read back), and revokes it."""
    from schemas.apikeys import ApiKey

    s = api_settings(settings)
    process, api = start_api(s, tmp_path / "api.log", "read")
    keys = {
        "read": api.key,
        "write": create_key(s, "writer", "write"),
        "operate": create_key(s, "ops", "operate"),
        "admin": create_key(s, "admin", "admin"),
    }
    problems: list[str] = []
    try:
        with chromium() as browser:
            for scope, key in keys.items():
                record = ApiKey(key_id="a" * 12, name="n", scope=scope, sha256="0" * 64, created_at="2026-01-01T00:00Z")
                context = browser.new_context(viewport={"width": 1280, "height": 900})  # its own cookies
                page = console_page(context, api.base, problems)
                sign_in(page, api.base, key)
                offered = {a.get_attribute("href") for a in page.locator("nav a").all()}
                for path, needed in PAGES.items():
                    answer = page.goto(api.base + path)
                    allowed = record.allows(needed)
                    assert answer.status == (200 if allowed else 403), (scope, path, answer.status)
                    if path.count("/") == 2:  # a section: in the navigation exactly when allowed
                        assert (path.removeprefix("/ui/") in offered) == allowed, (scope, path, offered)
                if scope == "admin":
                    page.goto(api.base + "/ui/api-keys")
                    page.fill("#name", "a flow")
                    page.select_option("#scope", "read")
                    page.click("button:has-text('Create')")
                    made = page.input_value("#new-key")
                    assert api.call("GET", "/v1/subscriptions", key=made).status_code == 200
                    page.click(f"button[aria-label^='Revoke {made.split('_')[1]}']")
                    assert page.locator("#revoked").is_visible()
                    assert api.call("GET", "/v1/subscriptions", key=made).status_code == 401
                context.close()
    finally:
        process.stop()
    assert not [p for p in problems if "status of 403" not in p], problems
