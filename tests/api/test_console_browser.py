"""The console in Chromium on real parts: broker, worker, the API process. A segment owner signs in, is told what
a wrong field means, creates a subscription, values flow, and the subscription's page shows the crossing on its
chart and explains the later value that did not fire. Every request outside the API is aborted, and the pages
must run with no console error and no CSP violation. A read key sees no change control, and its direct post is
refused by the server."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support import builders as b
from tests.support.api import api_settings, create_key, start_api
from tests.support.browser import chromium, distinct_colours
from tests.support.metrics import wait_for_metric
from tests.support.waiting import wait_for

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
pytestmark = [pytest.mark.broker, pytest.mark.subprocess, pytest.mark.browser]


def test_a_segment_owner_sets_a_threshold_and_sees_why_it_fired_and_then_did_not(kafka, settings, worker, tmp_path):
    s = api_settings(settings)
    process, api = start_api(s, tmp_path / "api.log", "write")
    reader = create_key(s, "viewer", "read")
    problems: list[str] = []
    expected = "Failed to load resource: the server responded with a status of 422"  # the form sent back, on purpose
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route(
                "**/*", lambda route: route.continue_() if route.request.url.startswith(api.base) else route.abort()
            )
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") and expected not in m.text
                    else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            page.goto(api.base + "/ui/")
            assert page.url.endswith("/ui/sign-in")
            page.fill("#key", api.key)
            page.click("button[type=submit]")
            assert page.url.endswith("/ui/subscriptions")
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
            # the picture on the Console page ('./dev docs-images' sets CDP_DOCS_IMAGES): what this test saw
            shot = (DOCS_IMAGES if os.environ.get("CDP_DOCS_IMAGES") else tmp_path) / "console-subscription.png"
            page.screenshot(path=str(shot), full_page=True)
            assert distinct_colours(shot) > 4

            page.click("header button:has-text('Sign out')")
            assert page.url.endswith("/ui/sign-in")
            page.fill("#key", reader)
            page.click("button[type=submit]")
            page.goto(api.base + "/ui/subscriptions/vip-1000")
            assert page.locator("text=Edit").count() == 0 and page.locator("button.danger").count() == 0
            csrf = page.get_attribute("input[name=csrf]", "value")
            posted = page.request.post(api.base + "/ui/subscriptions/vip-1000/delete", form={"csrf": csrf})
            assert posted.status == 403, posted.text()
            assert api.call("GET", "/v1/subscriptions/vip-1000").status_code == 200
    finally:
        process.stop()
    assert not problems, problems
