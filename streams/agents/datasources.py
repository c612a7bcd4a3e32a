"""Data-source refresh status -> refresh failed / refresh succeeded triggers."""

from __future__ import annotations

from schemas.events import DataSourceChange

from ..app import Pipeline
from ..codec import Decoder, Rejected
from ..continuity import Incoming
from ..core import datasources
from ..core.datasources import DataSourceState
from ..core.ordering import Verdict


def register(p: Pipeline) -> None:
    decoder: Decoder[DataSourceChange] = Decoder(DataSourceChange, p.settings.max_event_bytes)
    table = p.table("datasources")
    m = p.metrics

    async def handle(msg: Incoming) -> None:
        change = decoder.decode(msg.value)
        if isinstance(change, Rejected):
            await p.publisher.dead_letter(msg, change)
            return
        raw = table.get(change.data_source_id)
        obs = datasources.observe(DataSourceState.from_dict(raw) if raw else None, change)
        if obs.verdict is not Verdict.APPLY:
            m.events_ignored.labels(msg.topic, obs.verdict.value).inc()
            return
        if obs.retrying_failure:
            m.retrying_failures.inc()
        if obs.trigger:
            await p.publisher.trigger(obs.trigger)
        table[change.data_source_id] = obs.state.to_dict()

    p.input_agent("datasources", [p.topics.datasources], handle)
