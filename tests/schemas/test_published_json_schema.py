"""The JSON Schema files in schemas/json are what producers in other languages
use; they must be exactly what the pydantic models generate."""

import json

import pytest

from schemas import export


def test_published_files_match_the_models():
    rendered = export.render()
    on_disk = {p.name: p.read_text() for p in export.JSON_DIR.glob("*.schema.json")}
    assert sorted(on_disk) == sorted(rendered), "run: uv run python -m schemas.export"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"{name} is stale; run: uv run python -m schemas.export"


@pytest.mark.parametrize("name", sorted(export.render()))
def test_each_file_is_a_2020_12_schema_with_an_id(name):
    doc = json.loads(export.render()[name])
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"].startswith("urn:cdp-triggers:schema:")
