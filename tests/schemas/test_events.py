import math

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.events import DataSourceChange, MeasureChange, RefreshRunChange, SegmentChange
from schemas.subscriptions import ThresholdSubscription
from tests.support import builders as b


def test_valid_documents_parse():
    SegmentChange.model_validate(b.segment("s", 10, 0))
    MeasureChange.model_validate(b.measure("m", -3.5, 0))
    DataSourceChange.model_validate(b.datasource("d", "failed", 0, will_retry=True))
    TypeAdapter(RefreshRunChange).validate_python(b.run_started("r", [("unification", "map")], 0))
    TypeAdapter(RefreshRunChange).validate_python(b.task("r", "segment", "s", "skipped", 0))


@pytest.mark.parametrize("count", [-1, 1.5, "12", True, None])
def test_member_count_must_be_a_non_negative_integer(count):
    with pytest.raises(ValidationError, match="member_count"):
        SegmentChange.model_validate(b.segment("s", count, 0))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_measure_value_must_be_finite(value):
    with pytest.raises(ValidationError, match="value"):
        MeasureChange.model_validate(b.measure("m", value, 0))


def test_event_time_needs_an_offset():
    doc = b.segment("s", 1, 0)
    doc["event_time"] = "2026-11-01T08:00:00"
    with pytest.raises(ValidationError, match="timezone"):
        SegmentChange.model_validate(doc)


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError, match="membercount"):
        SegmentChange.model_validate({**b.segment("s", 1, 0), "membercount": 3})


def test_failure_details_required_exactly_for_failed():
    doc = b.datasource("d", "failed", 0)
    del doc["failure"]
    with pytest.raises(ValidationError, match="needs 'failure'"):
        DataSourceChange.model_validate(doc)
    ok = b.datasource("d", "succeeded", 0)
    ok["failure"] = {"code": "x", "message": "y", "will_retry": False}
    with pytest.raises(ValidationError, match="only allowed"):
        DataSourceChange.model_validate(ok)


def test_unification_tasks_are_map_match_merge():
    with pytest.raises(ValidationError, match="map, match, merge"):
        TypeAdapter(RefreshRunChange).validate_python(b.task("r", "unification", "dedupe", "succeeded", 0))


def test_run_tasks_must_be_unique_and_non_empty():
    adapter = TypeAdapter(RefreshRunChange)
    with pytest.raises(ValidationError, match="unique"):
        adapter.validate_python(b.run_started("r", [("segment", "a"), ("segment", "a")], 0))
    with pytest.raises(ValidationError, match="at least 1"):
        adapter.validate_python(b.run_started("r", [], 0))


def test_blank_ids_are_rejected():
    with pytest.raises(ValidationError, match="segment_id"):
        SegmentChange.model_validate(b.segment(" ", 1, 0))


def test_subscription_recovery_must_not_exceed_threshold():
    with pytest.raises(ValidationError, match="must not be above"):
        ThresholdSubscription.model_validate(b.subscription("s", "segment", "x", 10, recovery=11))
    sub = ThresholdSubscription.model_validate(b.subscription("s", "measure", "x", 10))
    assert sub.rearm_below == 10 and sub.entity_key == "measure/x"
