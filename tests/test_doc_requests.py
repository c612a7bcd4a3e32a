"""Every request body the docs show (``curl -d``) is one the API accepts: validated against the OpenAPI document
the API publishes (its models), and a dead-letter fix against the input event it replaces, by the same function
the replay uses. A body that rots with the models fails here, not in a reader's terminal."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import urlparse

import jsonschema

from schemas.deadletter import DeadLetter, DeadLetterReason
from streams.api.app import create_api
from streams.client.deadletters import ReplayRefused, fix_bytes, prepare
from streams.metrics import Metrics
from streams.settings import Settings
from streams.topics import Topics
from tests.support.doc_blocks import PAGES, page_commands
from tests.support.memory_store import MemoryStore, memory_settings


def documented_requests() -> list[tuple[str, str, str, object]]:
    """(page, method, path, body) of every curl with a JSON body in the pages' bash blocks."""
    found = []
    for page in PAGES:
        for words in page_commands(page):
            if not words or words[0] != "curl" or "-d" not in words:
                continue
            ours = [w for w in words[1:] if "/v1/" in w]  # the API's, wherever it runs (not a registry's)
            if not ours:
                continue
            method = words[words.index("-X") + 1] if "-X" in words else "POST"
            path = urlparse("http://x" + ours[0][ours[0].index("/v1/") :]).path
            found.append((page.name, method, path, json.loads(words[words.index("-d") + 1])))
    return found


def openapi() -> dict:
    settings = memory_settings()
    metrics = Metrics()
    return create_api(settings, MemoryStore(settings, metrics), metrics).openapi()


def body_schema(spec: dict, method: str, path: str) -> dict:
    for template, operations in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            content = operations[method.lower()]["requestBody"]["content"]
            return {**content["application/json"]["schema"], "components": spec["components"]}
    raise AssertionError(f"{method} {path}: no such operation in the API")


def test_every_documented_request_body_is_one_the_api_accepts():
    spec = openapi()
    requests = documented_requests()
    assert len(requests) >= 7, requests
    for page, method, path, body in requests:
        errors = sorted(jsonschema.Draft202012Validator(body_schema(spec, method, path)).iter_errors(body), key=str)
        assert not errors, f"{page}: {method} {path}: {errors[0].message} at {list(errors[0].absolute_path)}"


def test_every_documented_dead_letter_fix_replays_with_the_default_names():
    settings = Settings()  # the names a reader's installation has unless they change them
    fixes = [
        fix
        for _, method, path, body in documented_requests()
        if path == "/v1/dead-letters:replay"
        for fix in body.get("fixes", [])
    ]
    assert fixes
    for fix in fixes:
        topic, partition, offset = fix["dead_letter_id"].rsplit("/", 2)
        letter = DeadLetter(
            id=fix["dead_letter_id"],
            reason=DeadLetterReason.SCHEMA,
            error="as shown",
            topic=topic,
            partition=int(partition),
            offset=int(offset),
            key_base64="",
            value_base64="",
            dead_lettered_at=datetime.now(UTC),
            worker=settings.app_id,
        )
        try:
            prepare(
                [letter],
                {letter.id: fix_bytes(fix["event"])},
                {},
                Topics(settings),
                settings.max_event_bytes,
                "docs",
                datetime.now(UTC),
            )
        except ReplayRefused as exc:
            raise AssertionError(f"the documented fix would be refused: {exc}") from None
