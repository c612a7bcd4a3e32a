"""Our Prometheus metrics, on a registry of our own (not the global one, not
faust's sensor). Labels take bounded values only: topic, reason, trigger type."""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.deadletter import AttemptResult, DeliveryOutcome

PREFIX = "cdp_triggers"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_consumed = Counter(f"{PREFIX}_input_events_total", "Input messages consumed", ["topic"], registry=r)
        self.events_invalid = Counter(
            f"{PREFIX}_input_invalid_total", "Input messages rejected, by reason", ["topic", "reason"], registry=r
        )
        self.events_ignored = Counter(
            f"{PREFIX}_input_ignored_total",
            "Input events not applied: stale (older than the last applied), duplicate (event id seen), "
            "reread (its offset was already applied by a re-read of messages Faust skipped)",
            ["topic", "reason"],
            registry=r,
        )
        self.gap_rereads = Counter(
            f"{PREFIX}_input_rereads_total",
            "Input messages Faust skipped that the worker re-read and applied (see streams/runtime/continuity.py)",
            ["topic"],
            registry=r,
        )
        self.dead_lettered = Counter(
            f"{PREFIX}_dead_lettered_total", "Messages written to the dead-letter topic", ["topic"], registry=r
        )
        self.triggers = Counter(
            f"{PREFIX}_triggers_total", "Trigger events published, by trigger type", ["type"], registry=r
        )
        self.retrying_failures = Counter(
            f"{PREFIX}_datasource_retrying_failures_total",
            "Data-source refresh failures the source will retry (counted, do not fire)",
            registry=r,
        )
        self.send_errors = Counter(
            f"{PREFIX}_kafka_send_errors_total", "Errors publishing to Kafka", ["topic"], registry=r
        )
        self.detection_latency = Histogram(
            f"{PREFIX}_detection_latency_seconds",
            "From the causing event's event time to its trigger being acknowledged by Kafka",
            ["type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.subscriptions = Gauge(f"{PREFIX}_subscriptions_active", "Threshold subscriptions loaded", registry=r)
        self.runs_in_flight = Gauge(
            f"{PREFIX}_refresh_runs_in_flight", "Refresh runs tracked that have not completed", registry=r
        )
        self.processing = Histogram(
            f"{PREFIX}_batch_processing_seconds",
            "Time to apply one batch: the input messages of one partition handed over together (up to 200), "
            "each decoded, detected, its triggers queued and its state buffered",
            ["agent"],
            buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
            registry=r,
        )
        self.lag = Gauge(
            f"{PREFIX}_consumer_lag_records",
            "Input records behind the end offset, over this worker's partitions (sampled by the continuity check)",
            ["topic"],
            registry=r,
        )
        self.state_entries = Gauge(
            f"{PREFIX}_state_entries",
            "Entries in a state table on this worker (entities, sources, runs)",
            ["table"],
            registry=r,
        )
        self.subscriptions_invalid = Counter(
            f"{PREFIX}_subscriptions_invalid_total", "Subscription records that failed validation", registry=r
        )
        # The dispatcher. Receivers are labelled by type only: names come from a config file, types are fixed.
        self.deliveries = Counter(
            f"{PREFIX}_deliveries_total",
            "Trigger events handed to a receiver: delivered, dead_lettered, duplicate (already delivered, skipped), "
            "cancelled (its hook was deleted meanwhile)",
            ["receiver_type", "outcome"],
            registry=r,
        )
        self.delivery_attempts = Counter(
            f"{PREFIX}_delivery_attempts_total",
            f"Delivery attempts by result: {', '.join(get_args(AttemptResult))}",
            ["receiver_type", "result"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            f"{PREFIX}_delivery_latency_seconds",
            "From the trigger event's write to the actions topic to its delivery, retries included",
            ["receiver_type"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.delivery_dead_lettered = Counter(
            f"{PREFIX}_delivery_dead_lettered_total",
            "Deliveries given up and written to the delivery dead-letter topic, by reason",
            ["receiver_type", "reason"],
            registry=r,
        )
        self.hooks = Gauge(
            f"{PREFIX}_hooks", "Webhook registrations held (dispatcher: followed; API: known)", registry=r
        )
        self.hooks_invalid = Counter(
            f"{PREFIX}_hooks_invalid_total", "Hook records on the hooks topic that failed validation", registry=r
        )
        # The triggers API. Operations are the OpenAPI operation ids: a fixed set.
        self.api_requests = Counter(
            f"{PREFIX}_api_requests_total",
            "API requests by operation and status code",
            ["operation", "code"],
            registry=r,
        )
        self.api_latency = Histogram(
            f"{PREFIX}_api_request_duration_seconds",
            "API request handling time",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.schema_fetches = Counter(
            f"{PREFIX}_schema_fetches_total",
            "Writer schemas asked of the Schema Registry by id: fetched, unknown (the event is dead-lettered), or "
            "unavailable (a try that failed; the worker waits and tries again)",
            ["outcome"],
            registry=r,
        )
        self.api_busy = Counter(
            f"{PREFIX}_api_reads_refused_total",
            "Requests that read Kafka refused with 503 because every CDP_API_KAFKA_READS slot stayed busy 5 s",
            registry=r,
        )
        self.api_events_published = Counter(
            f"{PREFIX}_api_events_published_total",
            "Change events written through POST /v1/events, acknowledged by Kafka",
            ["kind"],
            registry=r,
        )
        self.unrouted = Counter(
            f"{PREFIX}_triggers_unrouted_total",
            "Trigger events that matched no route with a receiver",
            ["type"],
            registry=r,
        )

        # Health (streams/kafka/health.py): every process.
        self.ready = Gauge(f"{PREFIX}_ready", "1 when this process answers /readyz with 200", registry=r)
        self.not_ready = Gauge(
            f"{PREFIX}_not_ready", "1 while a readiness check fails (see /readyz for why)", ["check"], registry=r
        )
        self.loop_heartbeat_age = Gauge(
            f"{PREFIX}_event_loop_heartbeat_age_seconds",
            "Time since the event loop last turned (0 before start)",
            registry=r,
        )
        self.stalls = Counter(
            f"{PREFIX}_stalls_total",
            "Failures that end the process (exit code 3): a wait on Kafka past its bound, a loop or commits that "
            "stopped, a follower that died; counted just before the exit",
            ["operation"],
            registry=r,
        )
        self.commit_stuck = Gauge(
            f"{PREFIX}_commit_stuck_seconds",
            "Longest time a partition of this topic has had input applied beyond its committed offset while that "
            "offset did not move (0: committed, or moving)",
            ["topic"],
            registry=r,
        )

    def preset(self, input_topics: list[str], output_topics: list[str], agents: list[str]) -> None:
        """Create every label combination at zero, so dashboards and alerts see
        a series (rate 0) before the first event of its kind."""
        from schemas.deadletter import DeadLetterReason
        from schemas.triggers import TriggerType

        for topic in input_topics:
            self.events_consumed.labels(topic)
            self.dead_lettered.labels(topic)
            self.gap_rereads.labels(topic)
            self.lag.labels(topic)
            self.commit_stuck.labels(topic)
            for reason in DeadLetterReason:
                self.events_invalid.labels(topic, reason.value)
            for ignored in ("stale", "duplicate", "reread"):
                self.events_ignored.labels(topic, ignored)
        for topic in output_topics:
            self.send_errors.labels(topic)
        for trigger_type in TriggerType:
            self.triggers.labels(trigger_type.short)
            self.detection_latency.labels(trigger_type.short)
        for agent in agents:
            self.processing.labels(agent)

    def preset_delivery(self, receiver_types: list[str]) -> None:
        from schemas.deadletter import DeliveryFailure
        from schemas.triggers import TriggerType

        for kind in receiver_types:
            for outcome in get_args(DeliveryOutcome):
                self.deliveries.labels(kind, outcome)
            for result in get_args(AttemptResult):
                self.delivery_attempts.labels(kind, result)
            self.delivery_latency.labels(kind)
            for reason in DeliveryFailure:
                self.delivery_dead_lettered.labels(kind, reason.value)
        for trigger_type in TriggerType:
            self.unrouted.labels(trigger_type.short)
