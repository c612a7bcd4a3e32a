"""The input kinds' published schemas in a Schema Registry: registered under the topic-name subjects
(``<topic>-value``, as Confluent's serializers name them by default) with a compatibility level, and a planned
schema checked against what is registered (``cdp-triggers schemas register | check``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from schemas.avro import INPUTS, schema_of
from schemas.export import json_schema_text

from ..kafka.schema_registry import Level, SchemaRegistry, SchemaType
from ..settings import Settings
from ..topics import Topics
from .producer import CHANGE_KINDS, ChangeKind


@dataclass(frozen=True)
class Outcome:
    kind: str
    subject: str
    id: int
    version: int | None  # None: registered now (the registry numbers it)
    changed: bool  # False: the subject held this schema already


def subject(settings: Settings, kind: ChangeKind) -> str:
    return f"{kind.topic(Topics(settings))}-value"


def published(kind: ChangeKind, schema_type: SchemaType) -> str:
    """The schema of ``kind`` as published (``schemas/avro``, ``schemas/json``)."""
    name = next(n for n, model in INPUTS.items() if model is kind.model)
    return json.dumps(schema_of(kind.model)) if schema_type == "AVRO" else json_schema_text(name, kind.model)


async def register(settings: Settings, schema_type: SchemaType, level: Level) -> list[Outcome]:
    """Each input kind's published schema under its subject, the subject's level set first; a subject that holds
    the schema already is left as it is (its level still set). Stops at the first refusal (``Incompatible``)."""
    done = []
    async with SchemaRegistry(settings) as registry:
        for kind in CHANGE_KINDS.values():
            name, text = subject(settings, kind), published(kind, schema_type)
            await registry.set_level(name, level)
            held = await registry.lookup(name, text, schema_type)
            if held is not None:
                done.append(Outcome(kind.name, name, held.id, held.version, changed=False))
                continue
            done.append(Outcome(kind.name, name, await registry.register(name, text, schema_type), None, True))
    return done


async def check(settings: Settings, kind: ChangeKind, text: str, schema_type: SchemaType) -> tuple[bool, list[str]]:
    """Whether the registry would take ``text`` as the next version of ``kind``'s subject, and why not."""
    async with SchemaRegistry(settings) as registry:
        return await registry.compatible(subject(settings, kind), text, schema_type)
