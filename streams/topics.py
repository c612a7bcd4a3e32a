"""The topics of the pipeline: names, partitions, retention (created by ``runtime.kafka.ensure_topics``)."""

from __future__ import annotations

from dataclasses import dataclass

from .settings import Settings

DAY_MS = 24 * 3600 * 1000
DISPATCHER_AGENT = "deliveries"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


class Topics:
    """Names of every topic, derived from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.datasources = settings.topic("datasource-changes")
        self.segments = settings.topic("segment-changes")
        self.measures = settings.topic("measure-changes")
        self.runs = settings.topic("refresh-runs")
        self.subscriptions = settings.topic("subscriptions")
        self.hooks = settings.topic("hooks")
        self.api_keys = settings.topic("api-keys")
        self.actions = settings.topic("actions")
        self.dead_letter = settings.topic("dead-letter")
        self.delivery_dead_letter = settings.topic("delivery-dead-letter")
        self.dead_letter_replays = settings.topic("dead-letter-replays")
        self.redeliveries = settings.topic("redeliveries")
        self.explain_replies = settings.topic("explain-replies")
        self.delivery_attempts = settings.topic("delivery-attempts")
        self.audit = settings.topic("audit")
        self._settings = settings

    AGENTS = ("datasources", "thresholds", "runs")

    def control(self, agent: str) -> str:
        """Internal topic of one agent: timer ticks and nudges, partitioned like its inputs."""
        return f"{self._settings.app_id}-{agent}-control"

    @property
    def dispatcher_control(self) -> str:
        return f"{self._settings.dispatcher_app_id}-{DISPATCHER_AGENT}-control"

    def specs(self) -> list[TopicSpec]:
        n = self._settings.partitions
        week = {"retention.ms": str(7 * DAY_MS)}
        return [
            TopicSpec(self.datasources, n, week, "data-source refresh status (key: data source id)"),
            TopicSpec(self.segments, n, week, "segment member counts (key: segment id)"),
            TopicSpec(self.measures, n, week, "business-measure values (key: measure id)"),
            TopicSpec(self.runs, n, week, "refresh-run progress (key: run id)"),
            TopicSpec(
                self.subscriptions,
                n,
                {"cleanup.policy": "compact"},
                "threshold subscriptions, compacted (key: subscription id; null value removes)",
            ),
            TopicSpec(
                self.hooks,
                1,
                {"cleanup.policy": "compact"},
                "webhook registrations of the API, compacted (key: hook id; null value deletes)",
            ),
            TopicSpec(
                self.api_keys,
                1,
                {"cleanup.policy": "compact"},
                "API keys (hashed), compacted (key: key id; null value revokes)",
            ),
            TopicSpec(self.actions, n, week, "trigger events, CloudEvents JSON (key: subject)"),
            TopicSpec(self.dead_letter, 1, {"retention.ms": str(30 * DAY_MS)}, "rejected input with reason"),
            TopicSpec(
                self.dead_letter_replays,
                1,
                {"cleanup.policy": "compact"},
                "who replayed which dead letter, when, as which event, compacted (key: dead-letter id)",
            ),
            TopicSpec(
                self.delivery_dead_letter,
                1,
                {"retention.ms": str(30 * DAY_MS)},
                "trigger events a receiver did not take, with reason (key: trigger id)",
            ),
            TopicSpec(
                self.redeliveries,
                n,
                week,
                "given-up deliveries an operator sends again (key: the trigger's subject, as on the actions topic)",
            ),
            TopicSpec(
                self.delivery_attempts,
                n,
                week,
                "every delivery attempt: receiver, answer, latency, next retry (key: trigger id)",
            ),
            TopicSpec(
                self.audit,
                1,
                {"retention.ms": str(365 * DAY_MS)},
                "every change made through the API or its console: who, when, what (key: the key id)",
            ),
            TopicSpec(
                self.explain_replies,
                1,
                {"retention.ms": str(3600 * 1000)},
                "answers of the workers to 'explain' requests (key: request id)",
            ),
            TopicSpec(
                self.dispatcher_control, n, {"retention.ms": str(DAY_MS)}, "internal: dispatcher sweeps and nudges"
            ),
            *(
                TopicSpec(self.control(a), n, {"retention.ms": str(DAY_MS)}, f"internal: {a} agent ticks and nudges")
                for a in self.AGENTS
            ),
        ]
