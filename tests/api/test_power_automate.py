"""The Power Automate custom connector: generated == committed, valid Swagger
2.0, one webhook trigger per trigger type; and the platform's lifecycle
simulated from the definition alone (subscribe with the body property marked
``x-ms-notification-url``, receive, unsubscribe by DELETE on ``Location``)."""

from __future__ import annotations

import json
import re
import time

import orjson
import pytest

from devtools.processes import ROOT
from schemas.triggers import TriggerType
from streams.api.connector import api_definition, api_properties
from tests.support.api import hooks_pipeline
from tests.support.builders import datasource
from tests.support.scenario import settle_pipeline

CONNECTOR = ROOT / "connectors" / "power-automate"


def definition() -> dict:
    return json.loads((CONNECTOR / "apiDefinition.swagger.json").read_text())


def test_the_committed_connector_is_current_and_valid_swagger_2():
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV2SpecValidator

    assert definition() == api_definition(), "stale connector: run 'cdp-triggers connector'"
    assert json.loads((CONNECTOR / "apiProperties.json").read_text()) == api_properties()
    validate(definition(), cls=OpenAPIV2SpecValidator)


def test_one_webhook_trigger_per_trigger_type_each_with_a_notification_url():
    doc = definition()
    triggers = {path: item for path, item in doc["paths"].items() if item.get("post", {}).get("x-ms-trigger")}
    assert sorted(p.split("/")[3] for p in triggers) == sorted(t.short for t in TriggerType)
    for path, item in triggers.items():
        body = item["post"]["parameters"][0]["schema"]
        marked = [name for name, prop in body["properties"].items() if prop.get("x-ms-notification-url")]
        assert marked == ["url"] and body["properties"]["url"]["x-ms-visibility"] == "internal"
        notification = item["x-ms-notification-content"]["schema"]
        assert notification["properties"]["type"]["enum"] == [_full(path).value]
    assert "delete" in doc["paths"]["/v1/hooks/{hook_id}"]


def _full(path: str) -> TriggerType:
    return next(t for t in TriggerType if t.short == path.split("/")[3])


@pytest.mark.broker
@pytest.mark.subprocess
def test_power_automates_lifecycle_from_the_definition(settings, kafka, worker_factory, tmp_path):
    doc = definition()
    with hooks_pipeline(settings, worker_factory, tmp_path) as (flow, s, api):
        # "Save the flow": the platform calls the trigger operation with the flow's callback in the marked property
        path, item = next(
            (p, i)
            for p, i in doc["paths"].items()
            if i.get("post", {}).get("operationId") == "OnDataSourceRefreshFailed"
        )
        schema = item["post"]["parameters"][0]["schema"]
        callback = flow.url("/workflows/abc/triggers/manual/run?api-version=2016-06-01&sig=s3cret")
        body = {name: callback for name, p in schema["properties"].items() if p.get("x-ms-notification-url")}
        body["filter"] = {"entity_id": "crm"}  # what the maker typed into the trigger's parameter
        header = doc["securityDefinitions"]["api_key"]["name"]
        subscribed = api.session.post(
            api.base + doc["basePath"].rstrip("/") + path, json=body, headers={header: api.key}, timeout=30
        )
        assert subscribed.status_code == 201, subscribed.text
        location = subscribed.headers["Location"]
        delete_template = re.escape("/v1/hooks/{hook_id}").replace(r"\{hook_id\}", "[^/]+")
        assert re.search(delete_template + "$", location) and "delete" in doc["paths"]["/v1/hooks/{hook_id}"]

        now = time.time()
        for ds in ("crm", "web"):
            kafka.produce_all(
                s.topic("datasource-changes"),
                [
                    (ds, datasource(ds, "started", now, run=f"{ds}-1")),
                    (ds, datasource(ds, "failed", now + 1, run=f"{ds}-1")),
                ],
            )
        deadline = time.monotonic() + 60
        while not flow.requests and time.monotonic() < deadline:
            time.sleep(0.2)
        settle_pipeline(s)  # the web failure, filtered out, would have come by now
        assert [r.path for r in flow.requests] == ["/workflows/abc/triggers/manual/run"]
        event = orjson.loads(flow.requests[0].body)
        notification = item["x-ms-notification-content"]["schema"]
        assert (
            set(notification["required"]) <= set(event) and event["type"] in notification["properties"]["type"]["enum"]
        )
        assert event["data"]["data_source_id"] == "crm"

        # "Delete the flow": the platform DELETEs the Location it was given
        assert api.session.delete(location, headers={header: api.key}, timeout=30).status_code == 204
        assert api.call("GET", "/v1/hooks").json()["items"] == []


def test_publish_actions_post_each_change_kind_to_the_api():
    """'Publish a ... event' actions, so a flow can feed the engine: each is an operation of the API itself, and
    its body asks for what the API requires (a run's two kinds are one action: Swagger 2.0 has no oneOf)."""
    from streams.api.app import openapi_document
    from streams.client.producer import CHANGE_KINDS

    doc, api = definition(), openapi_document()
    actions = {p: i["post"] for p, i in doc["paths"].items() if p.startswith("/v1/events/")}
    assert sorted(actions) == sorted(f"/v1/events/{kind}" for kind in CHANGE_KINDS)
    for path, action in actions.items():
        assert "post" in api["paths"][path] and not action.get("x-ms-trigger")
        body = doc["definitions"][action["parameters"][0]["schema"]["$ref"].split("/")[-1]]
        for model in CHANGE_KINDS[path.rsplit("/", 1)[1]].classes:
            fields = model.model_json_schema()
            assert set(body["required"]) <= set(fields["required"]) and set(fields["properties"]) <= set(
                body["properties"]
            )
    assert doc["paths"]["/v1/events/run"]["post"]["summary"].startswith("Publish a refresh run event")
