"""The documentation site builds with --strict (a broken link or anchor fails), its generated pages list every
setting, and the README stays an entry page whose links lead into the site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.settings import BrokerSettings
from streams.settings import Settings
from tests.support.browser import chromium

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built strict once for this module's tests."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.mark.subprocess
def test_the_site_builds_strict_with_every_setting_on_its_pages(site):
    tmp_path = site
    configuration = (tmp_path / "configuration" / "index.html").read_text()
    assert all(f"CDP_{name.upper()}" in configuration for name in Settings.model_fields)
    development = (tmp_path / "development" / "index.html").read_text()
    assert all(f"CDP_BROKER_{name.upper()}" in development for name in BrokerSettings.model_fields)
    api = (tmp_path / "api" / "index.html").read_text()
    assert "GET /v1/subscriptions" in api and "DELETE /v1/hooks/{hook_id}" in api
    # a snippet marker the snippets extension did not recognise (a formatter may mangle one) reaches the page as
    # text, and the strict build does not notice
    text = {p.parent.name: re.sub(r"<[^>]+>", "", p.read_text()) for p in tmp_path.rglob("*.html")}  # tags out
    unresolved = [page for page, words in text.items() if re.search(r"--8\s*&lt;\s*--", words)]
    assert unresolved == [], f"pages showing a snippet marker instead of the file: {unresolved}"


@pytest.mark.subprocess
@pytest.mark.browser
def test_the_diagrams_are_readable_in_a_1280_px_window_and_the_pictures_load(site):
    pages = {"concepts": 1, "actions": 1}  # page: diagrams on it
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, count in pages.items():
            page.goto((site / name / "index.html").as_uri())
            assert page.locator("div.diagram svg").count() == count, name
            heights = page.evaluate(
                "() => [...document.querySelectorAll('div.diagram svg text')]"
                ".map(t => t.getBoundingClientRect().height)"
            )
            assert heights and min(heights) >= 12, f"{name}: text {min(heights):.1f} px high at 1280 px"
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280, f"{name} scrolls sideways"
            broken = page.evaluate("[...document.images].filter(i => i.naturalWidth === 0).map(i => i.src)")
            assert broken == [], f"{name}: pictures that do not load: {broken}"


def test_the_readme_is_an_entry_page_whose_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert links and all((ROOT / link).is_file() for link in links), links
    assert "./dev demo" in readme and "./dev test" in readme


def test_every_name_the_docs_python_examples_import_exists():
    import ast
    import importlib

    imported = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S):
            # an example may use top-level await (asyncio's REPL): compile it as a coroutine body
            tree = compile(block, str(page), "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    imported += [(page.name, node.module, alias.name) for alias in node.names]
    assert imported, "no python example found"
    missing = [(p, m, n) for p, m, n in imported if not hasattr(importlib.import_module(m), n)]
    assert missing == []


def test_the_triggers_page_names_every_trigger_type_by_both_its_names():
    from schemas.triggers import TriggerType

    page = (ROOT / "docs" / "triggers.md").read_text()
    rows = re.findall(r"^\| \d \| `([^`]+)`", page, re.M)
    assert rows == [t.value for t in TriggerType]
    assert all(t.value == f"io.cdptriggers.{t.short}.v1" for t in TriggerType)  # the rule the page states


def test_every_setting_is_in_exactly_one_group_of_the_configuration_page():
    from streams.settings import GROUPS

    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(Settings.model_fields), set(grouped) ^ set(Settings.model_fields)


def test_every_cdp_variable_the_docs_name_is_a_setting():
    """A renamed setting left behind on a page fails here: each CDP_ name is a setting, the dev broker's, the
    settings file's, the dev registry's, or one the examples/ scripts read."""
    from devtools.settings import BrokerSettings, RegistrySettings

    known = {f"CDP_{name.upper()}" for name in Settings.model_fields} | {"CDP_CONFIG_FILE"}
    known |= {f"CDP_BROKER_{name.upper()}" for name in BrokerSettings.model_fields}
    known |= {f"CDP_REGISTRY_{name.upper()}" for name in RegistrySettings.model_fields}
    examples = "".join(p.read_text() for p in (ROOT / "examples").rglob("*") if p.is_file())
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for name in sorted(set(re.findall(r"\bCDP_[A-Z0-9_]*[A-Z0-9]\b", page.read_text()))):
            assert name in known or name in examples, f"{page.name}: {name} is not a setting"
