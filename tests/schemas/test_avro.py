"""The Avro schemas of the input kinds: generated from the same models as the JSON Schemas, published as
generated, accepting the same fields, and carrying every kind of event through Avro's binary encoding to the same
model value."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from pydantic import TypeAdapter

from schemas import avro, export
from schemas.events import DataSourceChange, MeasureChange, RefreshRunChange, SegmentChange
from tests.support import builders as b


def test_published_avro_files_match_the_models():
    rendered = export.render_avro()
    on_disk = {p.name: p.read_text() for p in export.AVRO_DIR.glob("*.avsc")}
    assert on_disk == rendered, "stale: run 'cdp-triggers schemas export'"


def _json_paths(node: dict[str, Any], defs: dict[str, Any], prefix: str = "") -> set[str]:
    if "$ref" in node:
        return _json_paths(defs[node["$ref"].rsplit("/", 1)[-1]], defs, prefix)
    for union in ("oneOf", "anyOf"):
        if union in node:
            return set().union(*(_json_paths(branch, defs, prefix) for branch in node[union]))
    if node.get("type") == "array":
        return _json_paths(node["items"], defs, prefix)
    found: set[str] = set()
    for name, spec in node.get("properties", {}).items():
        found |= {prefix + name} | _json_paths(spec, defs, f"{prefix}{name}.")
    return found


@pytest.mark.parametrize("name", sorted(avro.INPUTS))
def test_the_avro_and_json_schemas_have_the_same_fields(name):
    json_schema = json.loads(export.render()[f"{name}.schema.json"])
    paths = _json_paths(json_schema, json_schema.get("$defs", {}))
    assert avro.field_paths(avro.schema_of(avro.INPUTS[name])) == paths
    assert len(paths) >= 5


EXAMPLES: list[tuple[Any, dict[str, Any]]] = [
    (DataSourceChange, b.datasource("crm", "failed", 0, will_retry=False, row_count=None)),
    (DataSourceChange, b.datasource("crm", "succeeded", 1, row_count=120_000, sequence=7)),
    (SegmentChange, b.segment("vip", 1012, 2, run_id="r-1")),
    (SegmentChange, b.segment("vip", 0, 3)),
    (MeasureChange, b.measure("revenue", 1234.5, 4)),
    (RefreshRunChange, b.run_started("r-1", [("data_source", "crm"), ("unification", "map")], 5)),
    (RefreshRunChange, {**b.task("r-1", "unification", "map", "failed", 6), "message": "merge timed out"}),
]


@pytest.mark.parametrize(("model", "event"), EXAMPLES, ids=lambda x: getattr(x, "__name__", "") or x.get("kind", ""))
def test_every_input_kind_survives_avros_binary_encoding_unchanged(model, event):
    """What a producer's serializer writes from the event, the worker decodes with the same schema, and the model
    validates to the value it validates from JSON (times as instants)."""
    adapter = TypeAdapter(model)
    expected = adapter.validate_python(event)
    schema = fastavro.parse_schema(avro.schema_of(model))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, adapter.dump_python(expected))
    decoded = fastavro.schemaless_reader(io.BytesIO(buffer.getvalue()), schema)
    assert adapter.validate_python(decoded) == expected
