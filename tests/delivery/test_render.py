import orjson
import pytest

from schemas.triggers import KINDS, TriggerType
from streams.delivery.render import cloudevent_request, email_message, summarise, teams_message
from tests.support.builders import trigger_event


def test_teams_message_is_one_adaptive_card_with_the_facts():
    message = teams_message(trigger_event("failed"))
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, subject, facts, footer = card["body"]
    assert title["text"] == "Data source refresh failed: CRM contacts" and title["color"] == "attention"
    assert subject["text"] == "data-source/crm"
    got = {f["title"]: f["value"] for f in facts["facts"]}
    assert got["Error"] == "AuthFailed: token expired <again> & again"
    assert got["Refresh run"] == "r-42" and got["Duration"] == "60.0 s" and got["Retried failures before"] == "2"
    assert "7f1c2a3b-0000-5000-8000-000000000001" in footer["text"]


def test_threshold_summary_shows_values_threshold_and_owner():
    s = summarise(trigger_event("crossed"))
    facts = dict(s.facts)
    assert s.title == "Segment threshold crossed: VIP customers at 1,012 (threshold 1,000)"
    assert facts["Value"] == "990 → 1,012"
    assert facts["Threshold"] == "1,000 (re-arms below 950)"
    assert facts["Owner"] == "owner@example.com" and facts["Labels"] == "team=marketing"


def test_email_has_text_and_escaped_html_parts_and_a_stable_message_id():
    msg = email_message(trigger_event("failed"), "cdp@example.com", ["a@example.com", "b@example.com"], "ops")
    assert msg["Subject"] == "[cdp-triggers] Data source refresh failed: CRM contacts"
    assert msg["To"] == "a@example.com, b@example.com"
    assert msg["Message-ID"] == "<7f1c2a3b-0000-5000-8000-000000000001.ops@cdp-triggers>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "AuthFailed: token expired <again> & again" in text
    assert "token expired &lt;again&gt; &amp; again" in html and "<again>" not in html


def test_cloudevents_structured_mode_sends_the_event_unchanged():
    event = trigger_event("crossed")
    raw = orjson.dumps(event)
    headers, body = cloudevent_request(event, raw, "structured")
    assert body is raw
    assert headers["Content-Type"].startswith("application/cloudevents+json")


def test_cloudevents_binary_mode_moves_attributes_to_headers():
    event = trigger_event("crossed")
    headers, body = cloudevent_request(event, orjson.dumps(event), "binary")
    assert orjson.loads(body) == event["data"]
    assert headers["Content-Type"] == "application/json"
    assert headers["ce-id"] == event["id"] and headers["ce-type"] == event["type"]
    assert headers["ce-specversion"] == "1.0" and headers["ce-subject"] == "segment/vip"


@pytest.mark.parametrize("trigger_type", list(TriggerType), ids=lambda t: t.short)
def test_every_trigger_type_renders_as_card_email_and_binary_event(trigger_type):
    event = trigger_event(trigger_type)
    card = teams_message(event)["attachments"][0]["content"]
    assert card["body"][0]["text"] == KINDS[trigger_type].describe(event["data"]).title
    assert ("Time", event["time"]) == summarise(event).facts[-1]
    msg = email_message(event, "cdp@example.com", ["a@example.com"], "ops")
    assert msg.get_body(("plain",)).get_content().startswith(card["body"][0]["text"])
    headers, _ = cloudevent_request(event, orjson.dumps(event), "binary")
    assert headers["ce-type"] == trigger_type.value
