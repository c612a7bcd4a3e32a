"""The Grafana dashboards as code (stdlib only).

    python grafana/build.py     # rewrites grafana/dashboards/*.json

A test fails when the committed JSON differs from what this file builds, and
another evaluates every panel query against a real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SELECTOR = 'job=~"$job", instance=~"$instance"'
OUT = Path(__file__).resolve().parent / "dashboards"


def _variables() -> dict:
    def label_var(name: str, query: str) -> dict:
        return {
            "name": name,
            "label": name.title(),
            "type": "query",
            "datasource": DATASOURCE,
            "query": {"query": query, "refId": f"{name}-var"},
            "definition": query,
            "includeAll": True,
            "multi": True,
            "allValue": ".+",
            "refresh": 2,
            "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        }

    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {"selected": True, "text": "Prometheus", "value": "cdp-prometheus"},
            },
            label_var("job", "label_values(cdp_triggers_subscriptions_active, job)"),
            label_var("instance", 'label_values(cdp_triggers_subscriptions_active{job=~"$job"}, instance)'),
        ]
    }


def _panel(
    pid: int,
    title: str,
    description: str,
    unit: str,
    targets: list[tuple[str, str]],
    x: int,
    y: int,
    w: int = 12,
    h: int = 8,
    kind: str = "timeseries",
) -> dict:
    panel = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "timeseries":
        panel["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]}}
    return panel


def _rate(metric: str, by: str = "", extra: str = "") -> str:
    grouping = f"sum by ({by}) " if by else "sum "
    matchers = f"{SELECTOR}, {extra}" if extra else SELECTOR
    return f"{grouping}(rate({metric}{{{matchers}}}[$__rate_interval]))"


def _increase(metric: str, by: str, extra: str = "", window: str = "$__rate_interval") -> str:
    matchers = f"{SELECTOR}, {extra}" if extra else SELECTOR
    return f"sum by ({by}) (increase({metric}{{{matchers}}}[{window}]))"


def trigger_activity() -> dict:
    t = "cdp_triggers_triggers_total"
    panels = [
        _panel(
            1,
            "Trigger rate by type",
            "Trigger events published to the actions topic per second, by trigger type.",
            "ops",
            [(_rate(t, "type"), "{{type}}")],
            0,
            0,
            w=24,
        ),
        _panel(
            2,
            "Threshold crossings",
            "Segment and measure threshold crossings per interval (fired, after re-arming rules).",
            "short",
            [(_increase(t, "type", 'type=~".+threshold.crossed"'), "{{type}}")],
            0,
            8,
        ),
        _panel(
            3,
            "Data-source refresh outcomes",
            "Refreshes per second: succeeded and failed (final, fired) and "
            "failures the source retries (counted, not fired).",
            "ops",
            [
                (_rate(t, "", 'type="datasource.refresh.succeeded"'), "succeeded"),
                (_rate(t, "", 'type="datasource.refresh.failed"'), "failed (final)"),
                (_rate("cdp_triggers_datasource_retrying_failures_total"), "failed, retrying"),
            ],
            12,
            8,
        ),
        _panel(
            4,
            "Refresh completions",
            "Full refresh and unification (map, match, merge) completions per interval.",
            "short",
            [(_increase(t, "type", 'type=~"refresh.(full|unification).completed"'), "{{type}}")],
            0,
            16,
        ),
        _panel(
            5,
            "Stalled refresh runs",
            "Runs still unfinished CDP_STALL_AFTER_SECONDS after they started, per interval.",
            "short",
            [(_increase(t, "type", 'type="refresh.run.stalled"'), "stalled")],
            12,
            16,
        ),
        _panel(
            6,
            "Triggers in the time range",
            "Trigger events per type over the selected time range.",
            "short",
            [(_increase(t, "type", window="$__range"), "{{type}}")],
            0,
            24,
            w=24,
            h=6,
            kind="bargauge",
        ),
    ]
    return _dashboard("cdp-trigger-activity", "cdp-triggers: Trigger activity", panels)


def pipeline_health() -> dict:
    lat = "cdp_triggers_detection_latency_seconds_bucket"
    proc = "cdp_triggers_batch_processing_seconds_bucket"

    def quantile(q: str, metric: str, by: str = "le") -> str:
        return f"histogram_quantile({q}, sum by ({by}) (rate({metric}{{{SELECTOR}}}[$__rate_interval])))"

    panels = [
        _panel(
            1,
            "Input rate by topic",
            "Change events consumed per second, per input topic.",
            "ops",
            [(_rate("cdp_triggers_input_events_total", "topic"), "{{topic}}")],
            0,
            0,
        ),
        _panel(
            2,
            "Invalid and dead-lettered",
            "Rejected input per second by reason, and records written to the dead-letter topic.",
            "ops",
            [
                (_rate("cdp_triggers_input_invalid_total", "reason"), "invalid: {{reason}}"),
                (_rate("cdp_triggers_dead_lettered_total"), "dead-lettered"),
            ],
            12,
            0,
        ),
        _panel(
            3,
            "Stale and duplicate events",
            "Events not applied: older than the entity's last event "
            "(stale), a repeated event id (duplicate), or an offset a re-read already applied (reread).",
            "ops",
            [(_rate("cdp_triggers_input_ignored_total", "reason"), "{{reason}}")],
            0,
            8,
        ),
        _panel(
            4,
            "Detection latency",
            "From the causing event's event time to its trigger acknowledged by Kafka: p50, p95, p99.",
            "s",
            [(quantile("0.5", lat), "p50"), (quantile("0.95", lat), "p95"), (quantile("0.99", lat), "p99")],
            12,
            8,
        ),
        _panel(
            5,
            "Batch processing time p99",
            "Time to apply one batch of input events of one partition (up to 200: decode, detect, queue triggers, "
            "buffer state), 99th percentile per agent.",
            "s",
            [(quantile("0.99", proc, "le, agent"), "{{agent}}")],
            0,
            16,
        ),
        _panel(
            6,
            "Consumer lag",
            "Input records behind the end offset, per topic, over the selected workers.",
            "short",
            [(f"sum by (topic) (cdp_triggers_consumer_lag_records{{{SELECTOR}}})", "{{topic}}")],
            12,
            16,
        ),
        _panel(
            7,
            "State size",
            "Entries in each state table, active subscriptions and in-flight refresh runs.",
            "short",
            [
                (f"sum by (table) (cdp_triggers_state_entries{{{SELECTOR}}})", "{{table}}"),
                (f"sum (cdp_triggers_subscriptions_active{{{SELECTOR}}})", "subscriptions"),
                (f"sum (cdp_triggers_refresh_runs_in_flight{{{SELECTOR}}})", "runs in flight"),
            ],
            0,
            24,
        ),
        _panel(
            8,
            "Kafka errors and re-reads",
            "Errors publishing to Kafka, and input messages Faust skipped that "
            "the worker re-read (see docs/semantics.md, 'No input is skipped').",
            "ops",
            [
                (_rate("cdp_triggers_kafka_send_errors_total", "topic"), "send errors: {{topic}}"),
                (_rate("cdp_triggers_input_rereads_total", "topic"), "re-read: {{topic}}"),
            ],
            12,
            24,
        ),
        _panel(
            9,
            "Workers up",
            "Scrape health of each worker (1 = up).",
            "none",
            [(f"up{{{SELECTOR}}}", "{{instance}}")],
            0,
            32,
            w=24,
            h=5,
            kind="stat",
        ),
        _panel(
            10,
            "Commits and the event loop",
            "Longest time a partition's committed offset stayed behind "
            "applied input without moving, per topic (the worker exits at CDP_PROGRESS_TIMEOUT_SECONDS), and "
            "the time since each process's event loop last turned (it exits at CDP_LOOP_TIMEOUT_SECONDS).",
            "s",
            [
                (f"max by (topic) (cdp_triggers_commit_stuck_seconds{{{SELECTOR}}})", "commit stuck: {{topic}}"),
                (
                    f"max by (instance) (cdp_triggers_event_loop_heartbeat_age_seconds{{{SELECTOR}}})",
                    "loop heartbeat age: {{instance}}",
                ),
            ],
            0,
            37,
        ),
        _panel(
            11,
            "Ready",
            "Whether each worker answers /readyz with 200 (1); /readyz names the failing check.",
            "none",
            [(f"cdp_triggers_ready{{{SELECTOR}}}", "{{instance}}")],
            12,
            37,
            kind="stat",
        ),
    ]
    return _dashboard("cdp-pipeline-health", "cdp-triggers: Pipeline health", panels)


def deliveries() -> dict:
    lat = "cdp_triggers_delivery_latency_seconds_bucket"

    def quantile(q: str) -> str:
        return f"histogram_quantile({q}, sum by (le, receiver_type) (rate({lat}{{{SELECTOR}}}[$__rate_interval])))"

    panels = [
        _panel(
            1,
            "Deliveries by receiver type and outcome",
            "Trigger events handed to receivers per second: "
            "delivered, dead-lettered, or skipped as already delivered (a replay).",
            "ops",
            [(_rate("cdp_triggers_deliveries_total", "receiver_type, outcome"), "{{receiver_type}} {{outcome}}")],
            0,
            0,
            w=24,
        ),
        _panel(
            2,
            "Attempts by result",
            "Delivery attempts per second by result; anything but ok is retried "
            "(5xx, 429, timeout, connection, SMTP 4xx) or given up (other 4xx, SMTP 5xx).",
            "ops",
            [(_rate("cdp_triggers_delivery_attempts_total", "receiver_type, result"), "{{receiver_type}} {{result}}")],
            0,
            8,
        ),
        _panel(
            3,
            "Delivery latency",
            "From the trigger event's write to the actions topic to its delivery, "
            "retries included: p50 and p99 per receiver type.",
            "s",
            [(quantile("0.5"), "p50 {{receiver_type}}"), (quantile("0.99"), "p99 {{receiver_type}}")],
            12,
            8,
        ),
        _panel(
            4,
            "Dead-lettered deliveries",
            "Deliveries given up, by reason; the records are on the delivery dead-letter topic.",
            "short",
            [
                (
                    _increase("cdp_triggers_delivery_dead_lettered_total", "receiver_type, reason"),
                    "{{receiver_type}} {{reason}}",
                )
            ],
            0,
            16,
        ),
        _panel(
            5,
            "Unrouted trigger events",
            "Trigger events that matched no route with a receiver, by type.",
            "short",
            [(_increase("cdp_triggers_triggers_unrouted_total", "type"), "{{type}}")],
            12,
            16,
        ),
        _panel(
            6,
            "API requests",
            "Triggers API requests per second by operation and status code (401/403: keys, "
            "422: invalid input or a refused callback, 429: rate limit).",
            "reqps",
            [(_rate("cdp_triggers_api_requests_total", "operation, code"), "{{operation}} {{code}}")],
            0,
            24,
        ),
        _panel(
            7,
            "Hooks",
            "Webhook registrations of the API held by each dispatcher and API process.",
            "short",
            [("max by (instance) (cdp_triggers_hooks{" + SELECTOR + "})", "{{instance}}")],
            12,
            24,
        ),
    ]
    return _dashboard("cdp-deliveries", "cdp-triggers: Deliveries", panels)


def _dashboard(uid: str, title: str, panels: list[dict]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "tags": ["cdp-triggers"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": _variables(),
        "panels": panels,
    }


def render() -> dict[str, str]:
    return {
        f"{d['uid']}.json": json.dumps(d, indent=2) + "\n"
        for d in (trigger_activity(), pipeline_health(), deliveries())
    }


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(OUT / name)
