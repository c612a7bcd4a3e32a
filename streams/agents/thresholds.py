"""Segment member counts and measure values -> threshold crossed triggers."""

from __future__ import annotations

from typing import Any

from schemas.events import MeasureChange, SegmentChange

from ..app import Pipeline
from ..codec import Decoder, Rejected
from ..core import thresholds
from ..core.ordering import Verdict, to_micros
from ..core.thresholds import EntityState


def register(p: Pipeline) -> None:
    limit = p.settings.max_event_bytes
    decoders: dict[str, Decoder[Any]] = {
        p.topics.segments: Decoder(SegmentChange, limit),
        p.topics.measures: Decoder(MeasureChange, limit),
    }
    # One agent for both kinds: entity state is keyed "segment/<id>" or "measure/<id>".
    table = p.table("threshold-entities")
    channel = p.input_topic(p.topics.segments, p.topics.measures)
    m = p.metrics

    @p.app.agent(channel, name="thresholds")
    async def process(stream: Any) -> None:
        if not p.registry.ready.is_set():
            raise RuntimeError("the subscription registry must be loaded before the worker starts")
        async for event in stream.events():
            source = event.message.topic
            m.events_consumed.labels(source).inc()
            change = decoders[source].decode(event.value)
            if isinstance(change, Rejected):
                await p.publisher.dead_letter(event, change)
                continue
            if isinstance(change, SegmentChange):
                kind, entity_id, name, value = "segment", change.segment_id, change.segment_name, change.member_count
            else:
                kind, entity_id, name, value = "measure", change.measure_id, change.measure_name, change.value
            key = f"{kind}/{entity_id}"
            raw = table.get(key)
            obs = thresholds.observe(
                EntityState.from_dict(raw) if raw else None,
                change.event_id,
                to_micros(change.event_time),
                change.sequence,
                float(value),
                p.registry.rules_for(key),
            )
            if obs.verdict is not Verdict.APPLY:
                m.events_ignored.labels(source, obs.verdict.value).inc()
                continue
            for crossing in obs.crossings:
                subscription = p.registry.get(crossing.subscription_id)
                if subscription is not None:
                    await p.publisher.trigger(
                        thresholds.crossing_trigger(crossing, subscription, name, change.event_id,
                                                    change.event_time, change.run_id)
                    )  # fmt: skip
            table[key] = obs.state.to_dict()
