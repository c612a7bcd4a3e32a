"""The Teams card and the email pictured in the docs are what the dispatcher sends: the committed pictures record
the hash of the card and mail they show, and the browser renders them again from the code."""

from __future__ import annotations

import json

import pytest

from devtools import docs_images
from streams.delivery.render import summarise
from tests.support.browser import distinct_colours


def test_the_committed_pictures_show_what_the_code_sends():
    recorded = json.loads(docs_images.RECORD.read_text())
    assert recorded == docs_images.shown(), "the card or the email changed: run './dev docs-images' and commit"
    assert all((docs_images.IMAGES / name).is_file() for name in recorded)


@pytest.mark.browser
def test_the_card_and_the_email_render_with_every_fact(tmp_path):
    texts = docs_images.render(tmp_path)
    for name, event in [("teams-card.png", docs_images.teams_event()), ("email.png", docs_images.email_event())]:
        summary = summarise(event)
        shown = texts[name]
        assert summary.title in shown.replace("\n", " ") and event["subject"] in shown, shown
        assert all(key in shown and value in shown for key, value in summary.facts), shown
        assert event["id"] in shown
        assert distinct_colours(tmp_path / name) > 8, f"{name} is blank"
