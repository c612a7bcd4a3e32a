"""Data-source refresh status -> refresh failed / refresh succeeded triggers."""

from __future__ import annotations

from schemas.events import DataSourceChange

from ..app import Pipeline
from ..codec import Decoder
from ..continuity import Incoming
from ..core import datasources
from ..core.datasources import DataSourceState


def register(p: Pipeline) -> None:
    decoder: Decoder[DataSourceChange] = Decoder(DataSourceChange, p.settings.max_event_bytes)
    table = p.table("datasources")
    m = p.metrics

    async def handle(msg: Incoming) -> None:
        change = await p.decode(decoder, msg)
        if change is None:
            return
        raw = table.get(change.data_source_id)
        obs = datasources.observe(DataSourceState.from_dict(raw) if raw else None, change)
        if not p.applies(msg, obs.verdict):
            return
        if obs.retrying_failure:
            m.retrying_failures.inc()
        if obs.trigger:
            await p.publisher.trigger(obs.trigger)
        table[change.data_source_id] = obs.state.to_dict()

    p.input_agent("datasources", [p.topics.datasources], handle)
