"""The worker's job written with Quix Streams, as a competent user of that stack would: the benchmarks' reference.

The same validation (our models and decoder), the same rules (our detection core, so the same trigger ids),
RocksDB state with a changelog per input topic, at-least-once, triggers and dead letters out. It shows where
that stack's limits are on the same broker and data; it is not something the worker copies.

What it leaves out of the worker's job: subscriptions are read once at start (the worker follows them live),
and refresh runs get no stall ticks (no benchmark run stalls). Trigger envelopes are JSON of the same
CloudEvents model; the bytes may differ from the worker's, the ids may not (``./dev bench --shapes`` checks).

    PYTHONPATH=. benchmarks/quix/.venv/bin/python -m benchmarks.quix_reference BOOTSTRAP PREFIX GROUP STATE_DIR
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from quixstreams import Application, State, message_context

from schemas.events import DataSourceChange, MeasureChange, RefreshRunChange, SegmentChange
from schemas.subscriptions import ThresholdSubscription
from streams.detection import datasources, runs, thresholds
from streams.detection.ordering import Verdict
from streams.detection.thresholds import Rule
from streams.detection.trigger import Observation
from streams.kafka.codec import Decoder, Rejected, dead_letter

from .topic_reader import read_to_end

MAX_EVENT_BYTES = 65_536  # CDP_MAX_EVENT_BYTES' default


class Rules:
    """Every subscription's rule by entity, read from the compacted topic to its end."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._by_entity: dict[str, tuple[Rule, ...]] = {}
        subscriptions: dict[str, ThresholdSubscription] = {}
        for msg in read_to_end(bootstrap, topic):
            key, value = (msg.key() or b"").decode(), msg.value()
            try:
                if value is None:
                    raise ValueError("deleted")
                subscriptions[key] = ThresholdSubscription.model_validate_json(value)
            except ValueError:  # deleted, or invalid (a ValidationError): the worker's registry skips it too
                subscriptions.pop(key, None)
        grouped: dict[str, list[Rule]] = {}
        for s in subscriptions.values():
            grouped.setdefault(f"{s.entity_kind}/{s.entity_id}", []).append(Rule.of(s))
        self._by_entity = {entity: tuple(rules) for entity, rules in grouped.items()}

    def rules_for(self, entity_key: str) -> tuple[Rule, ...]:
        return self._by_entity.get(entity_key, ())


def handler(
    model: Any, observe: Callable[[Any, Any], Observation[Any]], to_dict: Any, from_dict: Any, source: str
) -> Callable[[bytes, State], list[dict[str, Any]]]:
    """One input topic's step: decode, apply to the entity's state, and what goes out (trigger envelopes and
    dead letters, as JSON documents)."""
    decoder: Decoder[Any] = Decoder(model, MAX_EVENT_BYTES)

    def step(raw: bytes, state: State) -> list[dict[str, Any]]:
        event = decoder.decode(raw)
        if isinstance(event, Rejected):
            ctx = message_context()
            record = dead_letter(
                event,
                topic=ctx.topic,
                partition=ctx.partition,
                offset=ctx.offset,
                timestamp_ms=None,
                key=None,
                value=raw,
                worker=source,
            )
            return [record.model_dump(mode="json")]
        previous = state.get("s")
        seen = observe(from_dict(previous) if previous is not None else None, event)
        if seen.verdict is not Verdict.APPLY:
            return []
        state.set("s", to_dict(seen.state))
        return [trigger.envelope(source).model_dump(mode="json") for trigger in seen.triggers]

    return step


def main() -> None:
    bootstrap, prefix, group, state_dir = sys.argv[1:5]
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        commit_interval=1.0,  # the worker's CDP_COMMIT_INTERVAL_SECONDS
        state_dir=state_dir,
        processing_guarantee="at-least-once",
        producer_extra_config={"acks": "all", "enable.idempotence": True, "linger.ms": 5},
        loglevel="WARNING",
    )
    rules = Rules(bootstrap, f"{prefix}subscriptions")
    actions = app.topic(f"{prefix}quix-actions", value_serializer="json", key_serializer="str")
    dead = app.topic(f"{prefix}quix-dead-letter", value_serializer="json", key_serializer="str")
    source = f"/cdp-triggers/{group}"
    steps: dict[str, Callable[[bytes, State], list[dict[str, Any]]]] = {
        "datasource-changes": handler(
            DataSourceChange,
            datasources.observe,
            datasources.DataSourceState.to_dict,
            datasources.DataSourceState.from_dict,
            source,
        ),
        "segment-changes": handler(
            SegmentChange,
            lambda s, e: thresholds.observe(s, e, rules),
            thresholds.EntityState.to_dict,
            thresholds.EntityState.from_dict,
            source,
        ),
        "measure-changes": handler(
            MeasureChange,
            lambda s, e: thresholds.observe(s, e, rules),
            thresholds.EntityState.to_dict,
            thresholds.EntityState.from_dict,
            source,
        ),
        "refresh-runs": handler(RefreshRunChange, runs.observe, runs.RunState.to_dict, runs.RunState.from_dict, source),
    }
    for name, step in steps.items():
        topic = app.topic(f"{prefix}{name}", value_deserializer="bytes", key_deserializer="str")
        out = app.dataframe(topic).apply(step, stateful=True, expand=True)
        out.filter(lambda doc: "specversion" in doc).to_topic(actions, key=lambda doc: doc["subject"])
        out.filter(lambda doc: "reason" in doc).to_topic(dead, key=lambda doc: doc["id"])
    app.run()


if __name__ == "__main__":
    main()
