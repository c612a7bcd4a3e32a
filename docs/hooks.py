"""MkDocs hooks: the pages that are generated, so they cannot drift from the code.

- ``<!-- generated: settings -->``: every ``CDP_*`` setting, from ``streams.settings.Settings``;
- ``<!-- generated: broker-settings -->``: the dev broker's, from ``devtools.settings.BrokerSettings``;
- ``<!-- generated: openapi -->``: the API's operations, from ``schemas/json/openapi.json``;
- ``<!-- generated: acls -->``: what each role's Kafka principal may do, from ``streams.acls``;
- ``<!-- generated: cli -->``: every command of ``cdp-triggers`` with its arguments and options, from the CLI;
- ``<!-- generated: trigger-data-examples -->``: each trigger type's example ``data`` (but the threshold ones,
  shown whole above it), from the declarations in ``schemas.triggers``;
- ``<!-- generated: fields MODULE:MODEL -->``: a model's fields (type, required or default, meaning), from its
  JSON Schema;
- ``<!-- generated: pipeline-diagram -->``: the pipeline as SVG, its topic names from the settings;
- ``<!-- generated: routing-tree FILE -->``: a routes file's tree as SVG, from the file;
- ``<!-- measured: KEY -->``: what a reliability test last measured, from ``docs/results/reliability.json``
  (``./dev reliability`` writes it; an unknown key fails the build).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined or field.default is None:
        return "(none)"
    else:
        value = field.default
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, list) and not value:
        return "(none)"
    text = str(value.value if hasattr(value, "value") else value)
    return f"`{text.replace(str(Path.home()), '~')}`"


def settings_table(model: type[BaseModel], prefix: str, names: tuple[str, ...] | None = None) -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if names is not None and name not in names:
            continue
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{prefix}{name.upper()}` | {_default(field)} | {meaning} |")
    return "\n".join(rows)


def openapi_reference(document: dict[str, Any]) -> str:
    rows = ["| operation | what it does | key scope |", "|---|---|---|"]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            summary = (op.get("description") or op.get("summary") or "").split("\n\n")[0].replace("\n", " ")
            secured = op.get("x-required-scope", "none")
            summary = summary.replace("|", "\\|")
            rows.append(f"| `{method.upper()} {path}` | {summary} | {secured} |")
    return "\n".join(rows)


def acls_table() -> str:
    from streams.acls import ROLES, acls
    from streams.settings import Settings

    rows = ["| role | may | why |", "|---|---|---|"]
    for role in ROLES:
        for acl in acls(role, Settings()):
            names = ", ".join(f"`{name}`" for name in acl.names)
            rows.append(f"| `{role}` | {', '.join(acl.operations)} on {acl.resource} {names} | {acl.why} |")
    return "\n".join(rows)


MEASURED = re.compile(r"<!-- measured: ([\w-]+) -->")


def measured_lines(markdown: str, results: dict[str, Any]) -> str:
    def line(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in results:
            raise ValueError(f"<!-- measured: {key} -->: no such result in docs/results/reliability.json")
        return f"{results[key]['line']} ({results[key]['measured_on']})"

    return MEASURED.sub(line, markdown)


def cli_reference() -> str:
    """Every command, from the CLI's own click tree: its help, arguments and options with their defaults."""
    import typer

    from streams.cli import app

    sections: list[str] = []

    def walk(command: Any, path: list[str]) -> None:  # typer's click tree (typer may bring its own click)
        if hasattr(command, "commands"):
            for name in sorted(command.commands):
                walk(command.commands[name], [*path, name])
            return
        help_text = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        arguments = " ".join(
            (p.name or "").upper() if p.required else "[" + (p.name or "").upper() + "]"
            for p in command.params
            if p.param_type_name == "argument"
        )
        sections.append(f"### `cdp-triggers {' '.join(path)}{' ' + arguments if arguments else ''}`\n\n{help_text}\n")
        rows = []
        for param in command.params:
            if param.param_type_name != "option" or param.hidden or param.name == "help":
                continue
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            default = "" if param.is_flag or param.default in (None, "", ()) else f"`{param.default}`"
            text = (param.help or "").replace("|", "\\|")
            rows.append(f"| {names} | {default} | {text} |")
        if rows:
            sections.append("| option | default | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n")

    walk(typer.main.get_command(app), [])
    return "\n".join(sections)


ROUTING_TREE = re.compile(r"<!-- generated: routing-tree ([\w./-]+) -->")
FIELDS = re.compile(r"<!-- generated: fields ([\w.]+):(\w+) -->")


def _type_of(spec: dict[str, Any]) -> str:
    """A JSON Schema property's type in words: a model by its name, a list by what it holds."""
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "const" in spec:
        return f"`{spec['const']}`"
    if "enum" in spec:
        return "one of " + ", ".join(f"`{v}`" for v in spec["enum"])
    if spec.get("type") == "array" and "items" in spec:
        return f"list of {_type_of(spec['items'])}"
    if spec.get("type") == "object" and isinstance(spec.get("additionalProperties"), dict):
        return f"map of {_type_of(spec['additionalProperties'])}"
    options = [_type_of(k) for k in spec.get("anyOf", []) if k.get("type") != "null"]
    return " or ".join(options) if options else spec.get("type", "any")


def fields_table(module: str, name: str) -> str:
    """A pydantic model's fields, from the JSON Schema it publishes (what validation holds input to)."""
    import importlib

    model = getattr(importlib.import_module(module), name)
    schema = model.model_json_schema()
    if "$ref" in schema:  # a recursive model: its own definition is among the others
        schema = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", []))
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    by_alias = {info.alias or name: info for name, info in model.model_fields.items()}  # "from", "continue"
    for field, spec in schema["properties"].items():
        default = by_alias[field].get_default(call_default_factory=True)
        plain = isinstance(default, str | int | float | bool) and not isinstance(default, BaseModel)
        need = "yes" if field in required else f"no (default `{default}`)" if plain and default != "" else "no"
        meaning = (spec.get("description") or "").replace("|", "\\|")
        rows.append(f"| `{field}` | {_type_of(spec)} | {need} | {meaning} |")
    return "\n".join(rows)


def trigger_data_examples() -> str:
    from schemas.triggers import KINDS

    shown = [kind for kind in KINDS.values() if kind.payload.__name__ != "ThresholdCrossed"]
    lines = [f"// {kind.type.short}\n{json.dumps(kind.example, ensure_ascii=False)}" for kind in shown]
    return "```jsonc\n" + "\n".join(lines) + "\n```"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- generated: settings -->" in markdown:
        from streams.settings import GROUPS, Settings

        grouped = "\n\n".join(
            f"## {title}\n\n{settings_table(Settings, 'CDP_', names)}" for title, names in GROUPS.items()
        )
        markdown = markdown.replace("<!-- generated: settings -->", grouped)
    if "<!-- generated: broker-settings -->" in markdown:
        from devtools.settings import BrokerSettings

        markdown = markdown.replace(
            "<!-- generated: broker-settings -->", settings_table(BrokerSettings, "CDP_BROKER_")
        )
    if "<!-- generated: openapi -->" in markdown:
        document = json.loads((ROOT / "schemas" / "json" / "openapi.json").read_text())
        markdown = markdown.replace("<!-- generated: openapi -->", openapi_reference(document))
    if "<!-- generated: acls -->" in markdown:
        markdown = markdown.replace("<!-- generated: acls -->", acls_table())
    if "<!-- generated: cli -->" in markdown:
        markdown = markdown.replace("<!-- generated: cli -->", cli_reference())
    if "<!-- generated: pipeline-diagram -->" in markdown:
        from devtools.diagrams import pipeline

        markdown = markdown.replace("<!-- generated: pipeline-diagram -->", pipeline())
    for found in ROUTING_TREE.finditer(markdown):
        import yaml

        from devtools.diagrams import routing_tree
        from schemas.routes import RoutesFile

        routes = RoutesFile.model_validate(yaml.safe_load((ROOT / found.group(1)).read_text()))
        markdown = markdown.replace(found.group(0), routing_tree(routes))
    if "<!-- generated: trigger-data-examples -->" in markdown:
        markdown = markdown.replace("<!-- generated: trigger-data-examples -->", trigger_data_examples())
    markdown = FIELDS.sub(lambda m: fields_table(m.group(1), m.group(2)), markdown)
    if MEASURED.search(markdown):
        results = json.loads((ROOT / "docs" / "results" / "reliability.json").read_text())
        markdown = measured_lines(markdown, results)
    return markdown
