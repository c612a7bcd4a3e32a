"""What a trigger event looks like to people and machines (pure): a summary,
a Teams Adaptive Card, an email with text and HTML parts, and the CloudEvents
HTTP binding."""

from __future__ import annotations

import html
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import orjson

from schemas.triggers import KINDS, TEST_EXTENSION, Summary, TriggerType


def summarise(event: dict[str, Any]) -> Summary:
    """The trigger type's own summary, with the event's time as the last fact."""
    s = KINDS[TriggerType(event["type"])].describe(event["data"])
    return replace(s, facts=[*s.facts, ("Time", event["time"])])


def teams_message(event: dict[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook expects: a message with one Adaptive Card."""
    s = summarise(event)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": s.title,
                "size": "Medium",
                "weight": "Bolder",
                "color": s.tone,
                "wrap": True,
                "style": "heading",
            },
            {"type": "TextBlock", "text": event["subject"], "isSubtle": True, "spacing": "None", "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in s.facts]},
            {
                "type": "TextBlock",
                "text": f"cdp-triggers · {TriggerType(event['type']).short} · id {event['id']}",
                "isSubtle": True,
                "size": "Small",
                "wrap": True,
            },
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def email_message(event: dict[str, Any], sender: str, recipients: list[str], receiver: str) -> EmailMessage:
    s = summarise(event)
    msg = EmailMessage()
    msg["Subject"] = f"[cdp-triggers] {s.title}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    # Stable per event and receiver: a repeat after a crash threads as the same message.
    msg["Message-ID"] = f"<{event['id']}.{receiver}@cdp-triggers>"
    msg["X-CDP-Trigger-Type"] = event["type"]
    width = max(len(k) for k, _ in s.facts)
    text = [s.title, "", *(f"{k.ljust(width)}  {v}" for k, v in s.facts), "", f"Trigger id {event['id']}", ""]
    msg.set_content("\n".join(text))
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{html.escape(k)}</th><td>{html.escape(v)}</td></tr>'
        for k, v in s.facts
    )
    msg.add_alternative(
        f"<html><body><h2>{html.escape(s.title)}</h2><p>{html.escape(event['subject'])}</p>"
        f'<table>{rows}</table><p style="color:#888">Trigger id {html.escape(event["id"])}</p></body></html>',
        subtype="html",
    )
    return msg


def cloudevent_request(event: dict[str, Any], raw: bytes, mode: str) -> tuple[dict[str, str], bytes]:
    """Headers and body per the CloudEvents HTTP binding. Structured mode sends
    the event as read from the actions topic, byte for byte."""
    if mode == "structured":
        return {"Content-Type": "application/cloudevents+json; charset=utf-8"}, raw
    headers = {
        f"ce-{k}": str(event[k]) for k in ("specversion", "id", "source", "type", "subject", "time", "dataschema")
    }
    if event.get(TEST_EXTENSION):
        headers[f"ce-{TEST_EXTENSION}"] = "true"
    headers["Content-Type"] = "application/json"
    return headers, orjson.dumps(event["data"])
