"""Segment member counts and measure values -> threshold crossed triggers.
One agent for both kinds: entity state is keyed "segment/<id>" or "measure/<id>"."""

from __future__ import annotations

from typing import Any

from schemas.events import MeasureChange, SegmentChange

from ..detection import thresholds
from ..detection.thresholds import EntityState
from ..detection.trigger import Observation
from ..runtime.pipeline import Detector, Pipeline
from .registry import SubscriptionRegistry


def register(p: Pipeline, registry: SubscriptionRegistry) -> None:
    keep = p.settings.explain_history

    def observe(state: EntityState | None, event: Any, offset: int) -> Observation[EntityState]:
        if not registry.ready.is_set():
            raise RuntimeError("the subscription registry must be loaded before the worker starts")
        return thresholds.observe(state, event, registry, offset, keep)

    p.detector(
        Detector(
            name="thresholds",
            table="threshold-entities",
            inputs={p.topics.segments: SegmentChange, p.topics.measures: MeasureChange},
            key=thresholds.key,
            observe=observe,
            to_json=EntityState.to_dict,
            from_json=EntityState.from_dict,
            explain=lambda key, state, partition: thresholds.explain(state, registry.rules_for(key), key),
        )
    )
