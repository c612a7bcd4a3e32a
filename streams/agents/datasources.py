"""Data-source refresh status -> refresh failed / refresh succeeded triggers."""

from __future__ import annotations

from typing import Any

from schemas.events import DataSourceChange

from ..app import Pipeline
from ..codec import Decoder, Rejected
from ..core import datasources
from ..core.datasources import DataSourceState
from ..core.ordering import Verdict


def register(p: Pipeline) -> None:
    decoder: Decoder[DataSourceChange] = Decoder(DataSourceChange, p.settings.max_event_bytes)
    table = p.table("datasources")
    topic = p.input_topic(p.topics.datasources)
    m = p.metrics

    @p.app.agent(topic, name="datasources")
    async def process(stream: Any) -> None:
        async for event in stream.events():
            source = event.message.topic
            m.events_consumed.labels(source).inc()
            change = decoder.decode(event.value)
            if isinstance(change, Rejected):
                await p.publisher.dead_letter(event, change)
                continue
            raw = table.get(change.data_source_id)
            obs = datasources.observe(DataSourceState.from_dict(raw) if raw else None, change)
            if obs.verdict is not Verdict.APPLY:
                m.events_ignored.labels(source, obs.verdict.value).inc()
                continue
            if obs.retrying_failure:
                m.retrying_failures.inc()
            if obs.trigger:
                await p.publisher.trigger(obs.trigger)
            table[change.data_source_id] = obs.state.to_dict()
