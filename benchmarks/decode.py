"""The price of a decoded input event by its encoding: plain JSON, JSON in a Schema Registry frame, and Avro in
a frame read with its writer schema (already fetched, as it is after the first event of each schema id). Each is
the worker's own ``Decoder`` to the validated model; the best of five rounds, in µs per event, for a segment
event and a refresh-run event (a union with nested records).

    uv run python -m benchmarks.decode [EVENTS]
"""

from __future__ import annotations

import io
import sys
import time
from typing import Any

import fastavro
import orjson
from pydantic import TypeAdapter

from schemas.avro import schema_of
from schemas.events import RefreshRunChange, SegmentChange
from streams.kafka.codec import Decoder, Rejected, Writer

T0 = "2026-12-07T08:00:00+00:00"


def events(kind: str, n: int) -> list[dict[str, Any]]:
    if kind == "segment":
        return [
            {"event_id": f"e{i}", "event_time": T0, "segment_id": f"s{i % 1000}", "segment_name": "Segment",
             "member_count": 1000 + i, "run_id": "r1"}
            for i in range(n)
        ]  # fmt: skip
    tasks = [{"kind": "data_source", "name": f"d{j}"} for j in range(5)] + [{"kind": "unification", "name": "map"}]
    return [
        {"event_id": f"e{i}", "event_time": T0, "kind": "run_started", "run_id": f"r{i}", "trigger": "scheduled",
         "tasks": tasks}
        for i in range(n)
    ]  # fmt: skip


def encodings(model: Any, docs: list[dict[str, Any]]) -> dict[str, tuple[list[bytes], Writer | None]]:
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    parsed = fastavro.parse_schema(schema_of(model))
    frame = b"\x00\x00\x00\x00\x07"

    def avro(doc: dict[str, Any]) -> bytes:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, parsed, adapter.dump_python(adapter.validate_python(doc)))
        return frame + body.getvalue()

    plain = [orjson.dumps(d) for d in docs]
    return {
        "json": (plain, None),
        "json in a frame": ([frame + p for p in plain], Writer(7, None)),
        "avro in a frame": ([avro(d) for d in docs], Writer(7, parsed)),
    }


def best_us(decoder: Decoder[Any], values: list[bytes], writer: Writer | None) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for value in values:
            decoded = decoder.decode(value, writer)
            assert not isinstance(decoded, Rejected), decoded
        rounds.append(time.perf_counter() - started)
    return min(rounds) / len(values) * 1e6


def main(n: int) -> None:
    print(f"decode, µs per event (best of 5 rounds of {n:,} events), Python {sys.version.split()[0]}")
    for kind, model in (("segment", SegmentChange), ("refresh run", RefreshRunChange)):
        decoder: Decoder[Any] = Decoder(model, 65536)
        measured = {
            name: best_us(decoder, values, w) for name, (values, w) in encodings(model, events(kind, n)).items()
        }
        sizes = {name: len(values[0]) for name, (values, _) in encodings(model, events(kind, 1)).items()}
        base = measured["json"]
        for name, us in measured.items():
            print(f"  {kind:<12} {name:<16} {us:6.2f} µs  ({us / base:4.2f}× json)  {sizes[name]:5.0f} bytes")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
