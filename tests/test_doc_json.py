"""The JSON the docs show is JSON the engine makes or takes: the trigger event example is a valid TriggerEvent
(and its data valid for its type), and the problem example has the API's problem fields. The other types' data
examples are generated from the declarations. Fields that drift fail here."""

from __future__ import annotations

import json
import re
from pathlib import Path

from schemas.triggers import TriggerEvent
from streams.api.app import openapi_document

ROOT = Path(__file__).resolve().parents[1]


def blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)


def test_the_trigger_event_example_is_a_trigger_event_with_valid_data():
    [example] = blocks("triggers.md", "json")
    event = TriggerEvent.model_validate(json.loads(example))
    assert event.payload() is not None


def test_the_problem_example_has_the_apis_problem_fields():
    [problem] = blocks("ingest.md", "json")
    shown = json.loads(problem.replace("…", "..."))
    schema = openapi_document()["components"]["schemas"]
    problem_schema = next(s for name, s in schema.items() if name.lower().startswith("problem"))
    assert set(shown) <= set(problem_schema["properties"]), set(shown) - set(problem_schema["properties"])
    assert shown["type"].startswith("urn:cdp-triggers:problem:")
