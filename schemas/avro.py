"""Avro schemas of the four input kinds, derived from the same pydantic models as the JSON Schemas (one source of
truth): a producer that writes Avro through a Schema Registry writes the fields JSON producers write.

Mapping, from each model's JSON Schema: an object is a record (its optional fields a union with null, default
null), a string a string (an enum or constant too: the model checks the value after decoding, and a new value
needs no Avro enum evolution), a date-time a ``timestamp-micros`` long (the instant; the decoder hands the model a
UTC time), an integer a long, a number a double, an array an array, and the refresh-run kinds a union of their
records. Decoded values are validated by the models exactly as JSON is."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from .events import DataSourceChange, MeasureChange, RefreshRunChange, SegmentChange

NAMESPACE = "io.cdptriggers.input"
# published name -> (model, Avro name of its record, or of the union's records)
INPUTS: dict[str, Any] = {
    "datasource-change": DataSourceChange,
    "segment-change": SegmentChange,
    "measure-change": MeasureChange,
    "refresh-run-change": RefreshRunChange,
}


def schema_of(model: Any) -> dict[str, Any] | list[Any]:
    """The Avro schema (as JSON data) of an input model or discriminated union."""
    json_schema = TypeAdapter(model).json_schema(mode="validation")
    defs = json_schema.get("$defs", {})
    converted: dict[str, Any] | list[Any] = _convert(json_schema, defs, set(), json_schema.get("title", "Event"))
    return converted


def _convert(node: dict[str, Any], defs: dict[str, Any], named: set[str], name: str) -> Any:
    if "$ref" in node:
        ref = node["$ref"].rsplit("/", 1)[-1]
        return _convert(defs[ref], defs, named, ref)
    for union in ("oneOf", "anyOf"):
        if union in node:
            branches = [b for b in node[union] if b.get("type") != "null"]
            nullable = len(branches) < len(node[union])
            converted = [_convert(b, defs, named, name) for b in branches]
            inner = converted[0] if len(converted) == 1 else converted
            if not nullable:
                return inner
            return ["null", *(inner if isinstance(inner, list) else [inner])]
    kind = node.get("type")
    if kind == "object":
        if name in named:  # a record is defined once, then named
            return f"{NAMESPACE}.{name}"
        named.add(name)
        required = set(node.get("required", ()))
        fields = []
        for field, spec in node.get("properties", {}).items():
            avro_type = _convert(spec, defs, named, _record_name(field))
            entry: dict[str, Any] = {"name": field, "type": avro_type}
            if field not in required:
                entry["type"] = (
                    avro_type if isinstance(avro_type, list) and "null" in avro_type else ["null", avro_type]
                )
                entry["default"] = None
            if spec.get("description"):
                entry["doc"] = spec["description"]
            fields.append(entry)
        record: dict[str, Any] = {"type": "record", "name": name, "namespace": NAMESPACE, "fields": fields}
        if node.get("description"):
            record["doc"] = node["description"]
        return record
    if kind == "string":
        if node.get("format") == "date-time":
            return {"type": "long", "logicalType": "timestamp-micros"}
        return "string"
    if kind == "integer":
        return "long"
    if kind == "number":
        return "double"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return {"type": "array", "items": _convert(node["items"], defs, named, name)}
    raise ValueError(f"{name}: no Avro mapping for {node}")


def _record_name(field: str) -> str:
    return "".join(part.capitalize() for part in field.split("_"))


def field_paths(schema: Any, prefix: str = "", records: dict[str, Any] | None = None) -> set[str]:
    """Every field of an Avro schema as a dotted path (records nested in unions and arrays, and records named
    again after their definition, included)."""
    records = {} if records is None else records
    if isinstance(schema, str) and schema in records:
        return field_paths(records[schema], prefix, records)
    if isinstance(schema, list):
        return set().union(*(field_paths(branch, prefix, records) for branch in schema))
    if isinstance(schema, dict) and schema.get("type") == "record":
        records[f"{schema.get('namespace', NAMESPACE)}.{schema['name']}"] = schema
        found: set[str] = set()
        for field in schema["fields"]:
            path = f"{prefix}{field['name']}"
            found |= {path} | field_paths(field["type"], path + ".", records)
        return found
    if isinstance(schema, dict) and schema.get("type") == "array":
        return field_paths(schema["items"], prefix, records)
    return set()
