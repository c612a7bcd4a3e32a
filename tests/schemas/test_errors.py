"""One way to say what failed validation (``schemas.errors``)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from schemas.errors import invalid, one_line


class Item(BaseModel):
    name: str
    count: int

    @model_validator(mode="after")
    def _positive(self) -> Item:
        if self.count < 0:
            raise ValueError("count must not be negative")
        return self


class Order(BaseModel):
    items: list[Item]


def test_each_error_names_its_dotted_field_and_message_without_pydantics_prefix():
    with pytest.raises(ValidationError) as caught:
        Order.model_validate({"items": [{"name": "a", "count": "x"}, {"name": "b", "count": -1}]})
    found = invalid(caught.value)
    assert [(e.field, e.message) for e in found] == [
        ("items.0.count", "Input should be a valid integer, unable to parse string as an integer"),
        ("items.1", "count must not be negative"),
    ]
    assert found[0].input == "x"
    assert (
        one_line(caught.value, limit=1)
        == "items.0.count: Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_check_across_fields_is_named_by_the_root_word():
    with pytest.raises(ValidationError) as caught:
        Item.model_validate({"name": "a", "count": -1})
    assert one_line(caught.value) == "(root): count must not be negative"
    assert one_line(caught.value, root="value") == "value: count must not be negative"
