"""What a trigger event looks like to people and machines (pure): a summary,
a Teams Adaptive Card, an email with text and HTML parts, and the CloudEvents
HTTP binding."""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import orjson

from schemas.triggers import TriggerType

T = TriggerType


@dataclass(frozen=True)
class Summary:
    title: str
    tone: str  # good | warning | attention: the card's colour
    facts: list[tuple[str, str]]


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return f"{value:,}" if isinstance(value, (int, float)) else str(value)


def _secs(value: Any) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def summarise(event: dict[str, Any]) -> Summary:
    kind, d = TriggerType(event["type"]), event["data"]
    when = ("Time", event["time"])
    if kind is T.DATA_SOURCE_REFRESH_FAILED:
        return Summary(f"Data source refresh failed: {d['data_source_name']}", "attention", [
            ("Data source", f"{d['data_source_name']} ({d['data_source_id']})"),
            ("Error", f"{d['error_code']}: {d['error_message']}"),
            ("Refresh run", d["refresh_run_id"]),
            ("Duration", _secs(d.get("duration_seconds"))),
            ("Retried failures before", str(d.get("retried_failures", 0))),
            when,
        ])  # fmt: skip
    if kind is T.DATA_SOURCE_REFRESH_SUCCEEDED:
        rows = d.get("row_count")
        return Summary(f"Data source refreshed: {d['data_source_name']}", "good", [
            ("Data source", f"{d['data_source_name']} ({d['data_source_id']})"),
            ("Rows", _num(rows) if rows is not None else "unknown"),
            ("Refresh run", d["refresh_run_id"]),
            ("Duration", _secs(d.get("duration_seconds"))),
            when,
        ])  # fmt: skip
    if kind in (T.SEGMENT_THRESHOLD_CROSSED, T.MEASURE_THRESHOLD_CROSSED):
        noun = "Segment" if d["entity_kind"] == "segment" else "Measure"
        labels = ", ".join(f"{k}={v}" for k, v in sorted(d.get("labels", {}).items())) or "none"
        return Summary(f"{noun} threshold crossed: {d['entity_name']} at {_num(d['value'])} (threshold {_num(d['threshold'])})", "warning", [
            (noun, f"{d['entity_name']} ({d['entity_id']})"),
            ("Value", f"{_num(d['previous_value'])} → {_num(d['value'])}"),
            ("Threshold", f"{_num(d['threshold'])} (re-arms below {_num(d['recovery_threshold'])})"),
            ("Subscription", d["subscription_id"]),
            ("Owner", d["owner"]),
            ("Labels", labels),
            when,
        ])  # fmt: skip
    if kind is T.FULL_REFRESH_COMPLETED:
        ok = d["succeeded"]
        failed = ", ".join(d["failed_tasks"]) or "none"
        return Summary(f"Full refresh {'completed' if ok else 'completed with failures'}", "good" if ok else "attention", [
            ("Run", f"{d['run_id']} ({d['trigger']})"),
            ("Duration", _secs(d["duration_seconds"])),
            ("Tasks", f"{len(d['tasks'])} ({len(d['failed_tasks'])} failed, {len(d['skipped_tasks'])} skipped)"),
            ("Failed tasks", failed),
            when,
        ])  # fmt: skip
    if kind is T.UNIFICATION_REFRESH_COMPLETED:
        ok = d["succeeded"]
        steps = ", ".join(f"{s['name']} {s['status']}" for s in d["steps"])
        return Summary(f"Unification refresh {'completed' if ok else 'failed'}", "good" if ok else "attention", [
            ("Run", d["run_id"]),
            ("Steps", steps),
            when,
        ])  # fmt: skip
    return Summary("Refresh run stalled", "attention", [
        ("Run", f"{d['run_id']} ({d.get('trigger') or 'unknown trigger'})"),
        ("Running for", _secs(d["stalled_after_seconds"])),
        ("Pending tasks", ", ".join(d["pending_tasks"]) or "none"),
        ("Started", d["started_at"]),
        when,
    ])  # fmt: skip


def teams_message(event: dict[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook expects: a message with one Adaptive Card."""
    s = summarise(event)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {"type": "TextBlock", "text": s.title, "size": "Medium", "weight": "Bolder", "color": s.tone,
             "wrap": True, "style": "heading"},
            {"type": "TextBlock", "text": event["subject"], "isSubtle": True, "spacing": "None", "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in s.facts]},
            {"type": "TextBlock", "text": f"cdp-triggers · {TriggerType(event['type']).short} · id {event['id']}",
             "isSubtle": True, "size": "Small", "wrap": True},
        ],
    }  # fmt: skip
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}],
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
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{html.escape(k)}</th>'
        f"<td>{html.escape(v)}</td></tr>"
        for k, v in s.facts
    )
    msg.add_alternative(
        f"<html><body><h2>{html.escape(s.title)}</h2><p>{html.escape(event['subject'])}</p>"
        f"<table>{rows}</table><p style=\"color:#888\">Trigger id {html.escape(event['id'])}</p></body></html>",
        subtype="html",
    )
    return msg


def cloudevent_request(event: dict[str, Any], raw: bytes, mode: str) -> tuple[dict[str, str], bytes]:
    """Headers and body per the CloudEvents HTTP binding. Structured mode sends
    the event as read from the actions topic, byte for byte."""
    if mode == "structured":
        return {"Content-Type": "application/cloudevents+json; charset=utf-8"}, raw
    headers = {f"ce-{k}": str(event[k]) for k in ("specversion", "id", "source", "type", "subject", "time", "dataschema")}
    headers["Content-Type"] = "application/json"
    return headers, orjson.dumps(event["data"])
