"""The docs' pictures of what people receive: the Teams card and the email the dispatcher sends for the two flows
of the routes example (a failed data-source refresh, a segment threshold crossed), rendered as a channel and a
mail client would: the card by Microsoft's Adaptive Cards renderer (``devtools/cards``), both in headless Chromium.
``./dev docs-images`` writes them to ``docs/images/`` with the hash of what they show; a test fails when the
committed ones show something the code no longer sends, and another renders them again in the browser."""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from schemas.triggers import TriggerType, sample_event
from streams.delivery.render import email_message, teams_message

ROOT = Path(__file__).resolve().parent.parent
CARDS = ROOT / "devtools" / "cards"
RENDERER = CARDS / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
IMAGES = ROOT / "docs" / "images"
RECORD = IMAGES / "rendered.json"
CHROMIUM = "/usr/bin/chromium"
SENDER, RECIPIENT = "cdp-triggers@example.com", "ann@example.com"


def example(trigger_type: TriggerType, event_id: str) -> dict[str, Any]:
    time = datetime(2026, 11, 24, 9, tzinfo=UTC)
    return orjson.loads(sample_event(trigger_type, event_id, "urn:cdp-triggers:worker", time).model_dump_json())


def teams_event() -> dict[str, Any]:
    return example(TriggerType.DATA_SOURCE_REFRESH_FAILED, "cdp.datasource-changes/2/1187")


def email_event() -> dict[str, Any]:
    return example(TriggerType.SEGMENT_THRESHOLD_CROSSED, "cdp.segment-changes/0/41")


def card() -> dict[str, Any]:
    content: dict[str, Any] = teams_message(teams_event())["attachments"][0]["content"]
    return content


def email() -> tuple[dict[str, str], str]:
    """The headers a mail client shows, and the HTML part."""
    message = email_message(email_event(), SENDER, [RECIPIENT], "segment-owners")
    part = message.get_body(("html",))
    assert part is not None
    return {k: str(message[k]) for k in ("From", "To", "Subject")}, str(part.get_content())


def shown() -> dict[str, str]:
    """Each picture's name and the hash of what it shows; a change to the card or the mail changes it."""
    headers, body = email()
    return {
        "teams-card.png": hashlib.sha256(orjson.dumps(card(), option=orjson.OPT_SORT_KEYS)).hexdigest(),
        "email.png": hashlib.sha256(orjson.dumps([headers, body], option=orjson.OPT_SORT_KEYS)).hexdigest(),
    }


def renderer() -> Path:
    if not RENDERER.is_file():
        raise SystemExit(f"{RENDERER.relative_to(ROOT)} is missing: './dev setup' installs it from npm")
    return RENDERER


CARD_PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;padding:16px;background:#f5f5f5;font-family:system-ui,'Segoe UI',sans-serif}
#card{width:520px;background:#fff;border-radius:6px;box-shadow:0 1px 4px rgba(0,0,0,.2);padding:4px}
</style></head><body><div id="card"></div></body></html>"""

MAIL_PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;padding:16px;background:#f5f5f5;font-family:system-ui,sans-serif}
#mail{width:560px;background:#fff;border:1px solid #ccc;border-radius:6px}
#headers{padding:10px 14px;border-bottom:1px solid #ddd;font-size:13px;color:#333}
#headers b{display:inline-block;width:64px;color:#666;font-weight:normal}
#body{padding:4px 14px 8px}
</style></head><body><div id="mail"><div id="headers"></div><div id="body"></div></div></body></html>"""


def render(out: Path) -> dict[str, str]:
    """Both pictures into ``out``; returns the text each shows, as the browser laid it out."""
    from playwright.sync_api import sync_playwright

    headers, body = email()
    texts = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 600, "height": 800}, device_scale_factor=2)
            page.route("**/*", lambda route: route.abort())  # nothing from the network: what it shows is ours
            page.set_content(CARD_PAGE)
            page.add_script_tag(path=str(renderer()))
            page.evaluate(
                """card => {
                    const c = new AdaptiveCards.AdaptiveCard();
                    c.parse(card);
                    document.getElementById('card').appendChild(c.render());
                }""",
                card(),
            )
            texts["teams-card.png"] = page.inner_text("#card")
            page.locator("#card").screenshot(path=str(out / "teams-card.png"))

            page.set_content(MAIL_PAGE)
            page.evaluate(
                """([headers, body]) => {
                    const h = document.getElementById('headers');
                    for (const [k, v] of Object.entries(headers)) {
                        const line = document.createElement('div');
                        const name = document.createElement('b');
                        name.textContent = k;
                        line.append(name, v);
                        h.append(line);
                    }
                    const frame = new DOMParser().parseFromString(body, 'text/html');
                    document.getElementById('body').append(...frame.body.childNodes);
                }""",
                [headers, body],
            )
            texts["email.png"] = page.inner_text("#mail")
            page.locator("#mail").screenshot(path=str(out / "email.png"))
        finally:
            browser.close()
    return texts


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    render(IMAGES)
    RECORD.write_text(json.dumps(shown(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {', '.join(sorted(shown()))} and {RECORD.name} in {IMAGES.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
