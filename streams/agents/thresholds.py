"""Segment member counts and measure values -> threshold crossed triggers."""

from __future__ import annotations

from typing import Any

from schemas.events import MeasureChange, SegmentChange

from ..app import Pipeline
from ..codec import Decoder
from ..continuity import Incoming
from ..core import thresholds
from ..core.ordering import to_micros
from ..core.thresholds import EntityState


def register(p: Pipeline) -> None:
    limit = p.settings.max_event_bytes
    decoders: dict[str, Decoder[Any]] = {
        p.topics.segments: Decoder(SegmentChange, limit),
        p.topics.measures: Decoder(MeasureChange, limit),
    }
    # One agent for both kinds: entity state is keyed "segment/<id>" or "measure/<id>".
    table = p.table("threshold-entities")

    async def handle(msg: Incoming) -> None:
        if not p.registry.ready.is_set():
            raise RuntimeError("the subscription registry must be loaded before the worker starts")
        change = await p.decode(decoders[msg.topic], msg)
        if change is None:
            return
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
        if not p.applies(msg, obs.verdict):
            return
        for crossing in obs.crossings:
            subscription = p.registry.get(crossing.subscription_id)
            if subscription is not None:
                await p.publisher.trigger(
                    thresholds.crossing_trigger(crossing, subscription, name, change.event_id, change.event_time,
                                                change.run_id)
                )  # fmt: skip
        table[key] = obs.state.to_dict()

    p.input_agent("thresholds", [p.topics.segments, p.topics.measures], handle)
