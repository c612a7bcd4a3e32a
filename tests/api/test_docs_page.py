"""The API's /docs page in a real headless Chromium with every request beyond
the API blocked: it loads only from this origin, breaks none of its own
Content-Security-Policy, and renders every operation of the OpenAPI document."""

from __future__ import annotations

import pytest

from tests.support.api import own_api
from tests.support.browser import chromium, distinct_colours

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]


@pytest.fixture(scope="module")
def api(broker, tmp_path_factory):
    _, process, client = own_api(broker.bootstrap, tmp_path_factory.mktemp("docs"))
    yield client
    process.stop()


@pytest.mark.browser
def test_the_docs_page_works_offline_under_its_csp(api, tmp_path):
    operations = [
        (method.upper(), path)
        for path, item in api.call("GET", "/openapi.json").json()["paths"].items()
        for method in item
    ]
    left, problems = [], []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 2400})

        def only_the_api(route):
            if route.request.url.startswith(api.base + "/"):
                route.continue_()
            else:
                left.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_api)
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        answer = page.goto(api.base + "/docs")
        assert answer is not None and answer.status == 200
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        page.wait_for_selector(".opblock", timeout=20_000)
        rendered = page.eval_on_selector_all(
            ".opblock",
            "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent,"
            " b.querySelector('.opblock-summary-path').getAttribute('data-path')])",
        )
        shot = tmp_path / "docs.png"
        page.screenshot(path=str(shot), full_page=False)

    assert left == [], f"the page reached beyond the API: {left}"
    assert problems == [], f"console errors (a CSP violation shows here): {problems}"
    assert sorted(map(tuple, rendered)) == sorted(operations)
    assert distinct_colours(shot) > 8, "the screenshot is blank"


def test_docs_assets_come_from_the_package_with_the_policy(api):
    for name, kind in [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")]:
        answer = api.call("GET", f"/docs/assets/{name}", key="")
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind)
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert api.call("GET", "/docs/assets/..%2Fcore.py", key="").status_code == 404
    assert api.call("GET", "/redoc", key="").status_code == 404  # a CDN page no more
