"""Generate the published JSON Schema files from the pydantic models.

``python -m schemas.export`` (or ``cdp-triggers schemas export``) rewrites
``schemas/json/``; a test fails when the files and the models drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from . import avro
from .apikeys import ApiKey
from .avro import schema_of
from .deadletter import DeadLetter, DeliveryAttempt, DeliveryDeadLetter
from .explain import ExplainReply
from .hooks import Hook, HookRequest
from .ingest import BatchItem
from .routes import RoutesFile
from .subscriptions import SubscriptionFile, ThresholdSubscription
from .triggers import KINDS, SCHEMA_URN, TriggerEvent, payload_schema_name

JSON_DIR = Path(__file__).parent / "json"
AVRO_DIR = Path(__file__).parent / "avro"

# name -> (adapter, mode): inputs are described as producers must write them,
# outputs as the engine writes them.
_INPUTS: dict[str, Any] = {
    **avro.INPUTS,  # the input kinds, published in both forms
    "change-event-batch-item": BatchItem,  # an item of POST /v1/events
    "threshold-subscription": ThresholdSubscription,
    "subscription-file": SubscriptionFile,
    "routes-file": RoutesFile,
    "hook-request": HookRequest,
}
_OUTPUTS: dict[str, Any] = {
    "trigger-event": TriggerEvent,
    "dead-letter": DeadLetter,
    "delivery-dead-letter": DeliveryDeadLetter,
    "delivery-attempt": DeliveryAttempt,
    "explain-reply": ExplainReply,
    "hook": Hook,
    "api-key": ApiKey,
    **{payload_schema_name(model): model for model in {k.payload for k in KINDS.values()}},
}


def render() -> dict[str, str]:
    """File name -> file text, for every published schema."""
    files = {}
    modes: tuple[tuple[dict[str, Any], Literal["validation", "serialization"]], ...] = (
        (_INPUTS, "validation"),
        (_OUTPUTS, "serialization"),
    )
    for names, mode in modes:
        for name, model in names.items():
            files[f"{name}.schema.json"] = json_schema_text(name, model, mode)
    return dict(sorted(files.items()))


def json_schema_text(name: str, model: Any, mode: Literal["validation", "serialization"] = "validation") -> str:
    """The published JSON Schema of ``model`` under ``name``, as its file holds it."""
    schema = TypeAdapter(model).json_schema(mode=mode)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_URN}{name}",
        "title": schema.pop("title", name),
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def write(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.schema.json"):
        stale.unlink()
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def render_avro() -> dict[str, str]:
    """File name -> text of each input kind's Avro schema (``schemas.avro``)."""
    return {f"{name}.avsc": json.dumps(schema_of(model), indent=2) + "\n" for name, model in avro.INPUTS.items()}


def write_avro(directory: Path = AVRO_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.avsc"):
        stale.unlink()
    written = []
    for name, text in render_avro().items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else JSON_DIR
    for path in write(target):
        print(path)
