"""The Power Automate (and Logic Apps) custom connector, generated from the
same declarations as the API: one webhook trigger per trigger type, its
filter parameters, and the notification's schema from the payload model.

Power Automate's webhook triggers follow the REST-hooks pattern: the trigger
operation is a POST whose body has a property marked
``x-ms-notification-url`` (the flow's callback, filled in by the platform);
our 201 answer carries ``Location``, which the platform DELETEs when the flow
is deleted or its trigger changes. Connectors are OpenAPI 2.0 (Swagger)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.triggers import KINDS, TriggerEvent, TriggerType

from ..client.producer import CHANGE_KINDS
from .auth import HEADER

PLACEHOLDER_HOST = "cdp-triggers.example.com"
_ENTITY = {"segment": "Segment id", "measure": "Measure id", "data-source": "Data source id"}
# Trigger type -> (summary in the flow designer, subject kind the user may filter on or None)
_TRIGGERS: dict[TriggerType, tuple[str, str, str | None]] = {  # operation id, flow-designer summary, filter on
    TriggerType.DATA_SOURCE_REFRESH_FAILED: (
        "OnDataSourceRefreshFailed",
        "When a data source refresh fails",
        "data-source",
    ),
    TriggerType.DATA_SOURCE_REFRESH_SUCCEEDED: (
        "OnDataSourceRefreshSucceeded",
        "When a data source refresh succeeds",
        "data-source",
    ),
    TriggerType.SEGMENT_THRESHOLD_CROSSED: (
        "OnSegmentThresholdCrossed",
        "When a segment threshold is crossed upward",
        "segment",
    ),
    TriggerType.MEASURE_THRESHOLD_CROSSED: (
        "OnMeasureThresholdCrossed",
        "When a business measure threshold is crossed upward",
        "measure",
    ),
    TriggerType.FULL_REFRESH_COMPLETED: ("OnFullRefreshCompleted", "When a full refresh completes", None),
    TriggerType.UNIFICATION_REFRESH_COMPLETED: (
        "OnUnificationRefreshCompleted",
        "When a unification refresh completes",
        None,
    ),
    TriggerType.REFRESH_RUN_STALLED: ("OnRefreshRunStalled", "When a refresh run stalls", None),
}
# Change-event kind -> (operation id, flow-designer summary): actions that post to /v1/events/{kind}
_PUBLISH: dict[str, tuple[str, str]] = {
    "datasource": ("PublishDataSourceEvent", "Publish a data source refresh event"),
    "segment": ("PublishSegmentEvent", "Publish a segment's member count"),
    "measure": ("PublishMeasureEvent", "Publish a business measure's value"),
    "run": ("PublishRunEvent", "Publish a refresh run event (run started, or a task's progress)"),
}
if set(_TRIGGERS) != set(TriggerType):  # a new type must get its flow-designer wording here
    raise RuntimeError(f"trigger types without a connector trigger: {sorted(set(TriggerType) - set(_TRIGGERS))}")


def _swagger2(schema: Any, definitions: dict[str, Any]) -> Any:
    """A pydantic JSON Schema (2020-12) as Swagger 2.0 accepts it: optional
    values as ``x-nullable``, ``$defs`` moved to ``definitions``."""
    if isinstance(schema, list):
        return [_swagger2(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    for name, sub in schema.pop("$defs", {}).items():
        definitions[name] = _swagger2(sub, definitions)
    options = schema.get("anyOf")
    if options is not None:
        kept = [o for o in options if o != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema, "x-nullable": True}
        else:
            schema.pop("anyOf")
    if "$ref" in schema:
        schema["$ref"] = schema["$ref"].replace("#/$defs/", "#/definitions/")
    schema.pop("propertyNames", None)  # not in Swagger 2.0; the API still checks label names
    if schema.get("default", 0) is None:
        del schema["default"]
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    for key in ("minItems", "maxItems") if schema.get("type") != "array" else ():
        schema.pop(key, None)
    return {k: _swagger2(v, definitions) for k, v in schema.items()}


def _notification(trigger_type: TriggerType, definitions: dict[str, Any]) -> dict[str, Any]:
    envelope = _swagger2(TriggerEvent.model_json_schema(mode="serialization"), definitions)
    data = _swagger2(KINDS[trigger_type].payload.model_json_schema(mode="serialization"), definitions)
    envelope["properties"]["data"] = {**data, "description": "The trigger's payload"}
    envelope["properties"]["type"] = {"type": "string", "enum": [trigger_type.value], "title": "Type"}
    envelope.pop("title", None)
    return envelope


def _body(entity: str | None) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if entity is not None:
        filters["entity_id"] = {
            "type": "string",
            "x-ms-summary": _ENTITY[entity],
            "description": f"Only this {entity.replace('-', ' ')} (leave empty for all)",
        }
    if entity in ("segment", "measure"):
        filters["subscription_id"] = {
            "type": "string",
            "x-ms-summary": "Subscription id",
            "description": "Only crossings of this threshold subscription",
        }
    properties: dict[str, Any] = {
        "url": {
            "type": "string",
            "x-ms-notification-url": True,
            "x-ms-visibility": "internal",
            "description": "The flow's callback URL",
        },
        "description": {"type": "string", "x-ms-visibility": "internal", "default": "Power Automate flow"},
    }
    if filters:
        properties["filter"] = {"type": "object", "x-ms-summary": "Filter", "properties": filters}
    return {"type": "object", "required": ["url"], "properties": properties}


def api_definition(host: str = PLACEHOLDER_HOST) -> dict[str, Any]:
    definitions: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for trigger_type, (operation, summary, entity) in _TRIGGERS.items():
        kind = KINDS[trigger_type]
        paths[f"/v1/trigger-types/{trigger_type.short}/hooks"] = {
            "x-ms-notification-content": {
                "description": kind.describe(kind.example).title.split(":")[0],
                "schema": _notification(trigger_type, definitions),
            },
            "post": {
                "operationId": operation,
                "summary": summary,
                "description": f"Triggers a flow for each '{trigger_type.short}' event (CloudEvents JSON).",
                "x-ms-trigger": "single",
                "x-ms-trigger-hint": "To see it work, make the change happen in your customer data.",
                "parameters": [{"name": "body", "in": "body", "required": True, "schema": _body(entity)}],
                "responses": {
                    "201": {
                        "description": "Registered; Location is the hook's URL, deleted with the flow",
                        "headers": {"Location": {"type": "string", "description": "The hook's URL"}},
                    },
                    "default": {"description": "A problem (application/problem+json)"},
                },
            },
        }
    paths["/v1/hooks/{hook_id}"] = {
        "delete": {
            "operationId": "DeleteHook",
            "summary": "Delete a hook",
            "x-ms-visibility": "internal",
            "description": "Called by the platform, at the trigger's Location, when the flow is deleted.",
            "parameters": [{"name": "hook_id", "in": "path", "required": True, "type": "string"}],
            "responses": {"204": {"description": "Deleted"}, "404": {"description": "No such hook"}},
        }
    }
    paths["/v1/subscriptions/{subscription_id}"] = {
        "put": {
            "operationId": "PutSubscription",
            "summary": "Create or update a threshold subscription",
            "description": "The segment or measure threshold whose upward crossing fires a trigger.",
            "parameters": [
                {
                    "name": "subscription_id",
                    "in": "path",
                    "required": True,
                    "type": "string",
                    "x-ms-summary": "Subscription id",
                },
                {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/SubscriptionSpec"}},
            ],
            "responses": {
                "200": {"description": "Replaced"},
                "201": {"description": "Created"},
                "default": {"description": "A problem (application/problem+json)"},
            },
        },
        "delete": {
            "operationId": "DeleteSubscription",
            "summary": "Delete a threshold subscription",
            "parameters": [
                {
                    "name": "subscription_id",
                    "in": "path",
                    "required": True,
                    "type": "string",
                    "x-ms-summary": "Subscription id",
                }
            ],
            "responses": {"204": {"description": "Deleted"}, "404": {"description": "No such subscription"}},
        },
    }
    from schemas.subscriptions import SubscriptionSpec

    definitions["SubscriptionSpec"] = _swagger2(SubscriptionSpec.model_json_schema(), definitions)
    for change, (operation, summary) in _PUBLISH.items():
        definitions[f"{change.title()}Event"] = _event_schema(CHANGE_KINDS[change].classes, definitions)
        paths[f"/v1/events/{change}"] = {
            "post": {
                "operationId": operation,
                "summary": summary,
                "description": "Feed the engine: the event is written to Kafka before this action succeeds. Give "
                "each event its own event_id (guid()); repeating one is ignored, so a retried action is safe.",
                "parameters": [
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": {"$ref": f"#/definitions/{change.title()}Event"},
                    }
                ],
                "responses": {
                    "202": {"description": "Written: Kafka acknowledged it"},
                    "default": {"description": "A problem (application/problem+json)"},
                },
            }
        }
    return {
        "swagger": "2.0",
        "info": {
            "title": "CDP Triggers",
            "version": "1.0",
            "description": "Start flows when customer data changes: refreshes, thresholds, unification.",
        },
        "host": host,
        "basePath": "/",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"api_key": {"type": "apiKey", "in": "header", "name": HEADER}},
        "security": [{"api_key": []}],
        "paths": paths,
        "definitions": dict(sorted(definitions.items())),
    }


def _event_schema(models: tuple[type[BaseModel], ...], definitions: dict[str, Any]) -> dict[str, Any]:
    """One change event's body; a union (a run's two kinds) becomes one object with every field, required only
    where all kinds require it, since Swagger 2.0 has no oneOf. The API still validates the kind's own rules."""
    schemas = [_swagger2(model.model_json_schema(), definitions) for model in models]
    if len(schemas) == 1:
        return schemas[0]
    properties: dict[str, Any] = {}
    for schema in schemas:
        properties.update(schema["properties"])
    properties["kind"] = {"type": "string", "enum": [s["properties"]["kind"]["enum"][0] for s in schemas]}
    required = set.intersection(*(set(s.get("required", [])) for s in schemas))
    return {"type": "object", "properties": properties, "required": sorted(required)}


def api_properties() -> dict[str, Any]:
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "API key",
                        "description": "A key from 'cdp-triggers api-keys create' (scope write: triggers, publishing)",
                        "tooltip": "cdpk_<id>_<secret>",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                }
            },
            "iconBrandColor": "#0F6CBD",
            "capabilities": [],
            "publisher": "cdp-triggers",
            "stackOwner": "cdp-triggers",
        }
    }


def write(directory: Path, host: str = PLACEHOLDER_HOST) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {"apiDefinition.swagger.json": api_definition(host), "apiProperties.json": copy.deepcopy(api_properties())}
    for name, document in files.items():
        (directory / name).write_text(json.dumps(document, indent=2) + "\n")
    return [directory / name for name in files]
