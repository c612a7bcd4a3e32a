"""Data-source refresh status -> refresh failed / refresh succeeded triggers."""

from __future__ import annotations

from schemas.events import DataSourceChange

from ..detection import datasources
from ..detection.datasources import DataSourceState
from ..runtime.pipeline import Detector, Pipeline


def register(p: Pipeline) -> None:
    def applied(event: DataSourceChange, partition: int) -> None:
        if datasources.retrying_failure(event):
            p.metrics.retrying_failures.inc()

    p.detector(
        Detector(
            name="datasources",
            table="datasources",
            inputs={p.topics.datasources: DataSourceChange},
            key=datasources.key,
            observe=lambda state, event, offset: datasources.observe(state, event),
            to_json=DataSourceState.to_dict,
            from_json=DataSourceState.from_dict,
            applied=applied,
            explain=lambda key, state, partition: datasources.explain(state, key),
        )
    )
