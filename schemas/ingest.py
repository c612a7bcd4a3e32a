"""A batch of change events for the API's ``POST /v1/events`` (a JSON array,
or NDJSON: one item a line). Each item names its kind, the same names as
``cdp-triggers publish`` and ``POST /v1/events/{kind}``, and holds the event
exactly as it is published to that kind's topic."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .events import DataSourceChange, MeasureChange, RefreshRunChange, SegmentChange, _Model


class DataSourceItem(_Model):
    kind: Literal["datasource"]
    event: DataSourceChange


class SegmentItem(_Model):
    kind: Literal["segment"]
    event: SegmentChange


class MeasureItem(_Model):
    kind: Literal["measure"]
    event: MeasureChange


class RunItem(_Model):
    kind: Literal["run"]
    event: RefreshRunChange


BatchItem = Annotated[DataSourceItem | SegmentItem | MeasureItem | RunItem, Field(discriminator="kind")]
ITEM_KINDS = ("datasource", "segment", "measure", "run")
