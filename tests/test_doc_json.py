"""The JSON the docs show is JSON the engine makes or takes: the trigger event example is a valid TriggerEvent
(and its data valid for its type), and the problem example has the API's problem fields. The other types' data
examples are generated from the declarations. Fields that drift fail here."""

from __future__ import annotations

import json

from schemas.triggers import TriggerEvent
from streams.api.app import openapi_document
from tests.support.doc_blocks import ROOT, code_blocks

DOCS = ROOT / "docs"


def test_the_trigger_event_example_is_a_trigger_event_with_valid_data():
    [example] = code_blocks(DOCS / "triggers.md", "json")
    event = TriggerEvent.model_validate(json.loads(example))
    assert event.payload() is not None


def test_the_problem_example_has_the_apis_problem_fields():
    [problem] = code_blocks(DOCS / "ingest.md", "json")
    shown = json.loads(problem.replace("…", "..."))
    schema = openapi_document()["components"]["schemas"]
    problem_schema = next(s for name, s in schema.items() if name.lower().startswith("problem"))
    assert set(shown) <= set(problem_schema["properties"]), set(shown) - set(problem_schema["properties"])
    assert shown["type"].startswith("urn:cdp-triggers:problem:")
