"""MkDocs hooks: the pages that are generated, so they cannot drift from the code.

- ``<!-- generated: settings -->``: every ``CDP_*`` setting, from ``streams.settings.Settings``;
- ``<!-- generated: broker-settings -->``: the dev broker's, from ``devtools.settings.BrokerSettings``;
- ``<!-- generated: openapi -->``: the API's operations, from ``schemas/json/openapi.json``;
- ``<!-- generated: acls -->``: what each role's Kafka principal may do, from ``streams.acls``;
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


def settings_table(model: type[BaseModel], prefix: str) -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    if prefix == "CDP_":
        rows.append("| `CDP_CONFIG_FILE` | (none) | Optional dotenv file with any of the variables below |")
    for name, field in model.model_fields.items():
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


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- generated: settings -->" in markdown:
        from streams.settings import Settings

        markdown = markdown.replace("<!-- generated: settings -->", settings_table(Settings, "CDP_"))
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
    if MEASURED.search(markdown):
        results = json.loads((ROOT / "docs" / "results" / "reliability.json").read_text())
        markdown = measured_lines(markdown, results)
    return markdown
