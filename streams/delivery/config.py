"""Reading the routes file and its secrets, once, at start. Any problem is a
RoutesError naming the file and the field; secret values never appear in
messages, reprs or dumps."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from schemas.routes import Receiver, RoutesFile, SecretRef

from .signing import parse_secret


class RoutesError(Exception):
    pass


@dataclass(frozen=True)
class ResolvedReceiver:
    spec: Receiver
    secrets: dict[str, SecretStr] = field(default_factory=dict)  # "url", "signing_secret", "password"

    def secret(self, name: str) -> str:
        return self.secrets[name].get_secret_value()

    def secret_values(self) -> list[str]:
        return [s.get_secret_value() for s in self.secrets.values() if s.get_secret_value()]


@dataclass(frozen=True)
class Routes:
    file: RoutesFile
    receivers: dict[str, ResolvedReceiver]
    source: str

    def dump(self) -> dict[str, Any]:
        """The configuration as loaded, for display: secrets show where they come from, masked."""
        out = self.file.model_dump(mode="json", by_alias=True, exclude_none=True)
        for entry in out["receivers"]:
            resolved = self.receivers[entry["name"]]
            target = entry[resolved.spec.kind]
            for path in _secret_paths(resolved.spec.kind):
                holder = target
                for part in path[:-1]:
                    holder = holder[part]
                ref = holder.get(path[-1])
                if ref is not None:
                    holder[path[-1]] = {**{k: v for k, v in ref.items() if v is not None}, "value": "********"}
        return out


def _secret_paths(kind: str) -> list[tuple[str, ...]]:
    return {
        "teams": [("url",)],
        "webhook": [("url",), ("signing_secret",)],
        "email": [("smtp", "password")],
    }[kind]


def _read_secret(ref: SecretRef, where: str) -> SecretStr:
    if ref.env is not None:
        value = os.environ.get(ref.env)
        if value is None or not value.strip():
            raise RoutesError(f"{where}: environment variable {ref.env} is not set or empty")
        return SecretStr(value.strip())
    path = Path(ref.file or "")
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise RoutesError(f"{where}: cannot read secret file {path} ({exc.strerror})") from None
    if not value:
        raise RoutesError(f"{where}: secret file {path} is empty")
    return SecretStr(value)


def resolve(spec: Receiver, index: int) -> ResolvedReceiver:
    base = f"receivers.{index}.{spec.kind}"
    secrets: dict[str, SecretStr] = {}
    if spec.teams is not None:
        secrets["url"] = _read_secret(spec.teams.url, f"{base}.url")
    elif spec.webhook is not None:
        secrets["url"] = _read_secret(spec.webhook.url, f"{base}.url")
        if spec.webhook.signing_secret is not None:
            key = _read_secret(spec.webhook.signing_secret, f"{base}.signing_secret")
            try:
                parse_secret(key.get_secret_value())
            except ValueError as exc:
                raise RoutesError(f"{base}.signing_secret ({spec.webhook.signing_secret.describe()}): {exc}") from None
            secrets["signing_secret"] = key
    elif spec.email is not None and spec.email.smtp.password is not None:
        secrets["password"] = _read_secret(spec.email.smtp.password, f"{base}.smtp.password")
    for name in ("url",):
        if name in secrets and not secrets[name].get_secret_value().startswith(("http://", "https://")):
            raise RoutesError(f"{base}.url: the URL must start with http:// or https://")
    return ResolvedReceiver(spec, secrets)


def parse(document: Any, source: str) -> Routes:
    try:
        file = RoutesFile.model_validate(document)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{where}: {err['msg']}")
        raise RoutesError(f"{source}: invalid routes file:\n  " + "\n  ".join(lines)) from None
    try:
        receivers = {r.name: resolve(r, i) for i, r in enumerate(file.receivers)}
    except RoutesError as exc:
        raise RoutesError(f"{source}: {exc}") from None
    return Routes(file, receivers, source)


def load(path: Path) -> Routes:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RoutesError(f"cannot read routes file {path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RoutesError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse(document, str(path))
