"""Reading the routes file and its secrets, once, at start. Any problem is a
RoutesError naming the file and the field; secret values never appear in
messages, reprs or dumps."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from schemas.routes import Receiver, Route, RoutesFile, SecretRef

from ..settings import Settings
from .receivers import KINDS, ResolvedReceiver


class RoutesError(Exception):
    pass


@dataclass(frozen=True)
class Routes:
    file: RoutesFile
    receivers: dict[str, ResolvedReceiver]
    source: str

    @classmethod
    def empty(cls) -> Routes:
        """No routes file: nothing is routed (the API's hooks may still receive triggers)."""
        return cls(RoutesFile(receivers=[], route=Route()), {}, "(none)")

    def dump(self) -> dict[str, Any]:
        """The configuration as loaded, for display: secrets show where they come from, masked."""
        out = self.file.model_dump(mode="json", by_alias=True, exclude_none=True)
        for entry in out["receivers"]:
            resolved = self.receivers[entry["name"]]
            target = entry[resolved.spec.kind]
            for path, _ in secret_refs(resolved.spec.target):
                holder = target
                for part in path[:-1]:
                    holder = holder[part]
                ref = holder.get(path[-1])
                if ref is not None:
                    holder[path[-1]] = {**{k: v for k, v in ref.items() if v is not None}, "value": "********"}
        return out


def secret_refs(model: BaseModel, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], SecretRef]]:
    """Every ``SecretRef`` set in a receiver's target, with its field path."""
    found = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretRef):
            found.append(((*path, name), value))
        elif isinstance(value, BaseModel):
            found.extend(secret_refs(value, (*path, name)))
    return found


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
    kind = KINDS.get(spec.kind)
    base = f"receivers.{index}.{spec.kind}"
    if kind is None:
        raise RoutesError(f"{base}: no sender for receiver kind {spec.kind!r}")
    secrets: dict[str, SecretStr] = {}
    for path, ref in secret_refs(spec.target):
        where = f"{base}.{'.'.join(path)}"
        value = _read_secret(ref, where)
        try:
            kind.check_secret(path[-1], value.get_secret_value())
        except ValueError as exc:
            raise RoutesError(f"{where}: {exc} ({ref.describe()})") from None
        secrets[path[-1]] = value
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


def for_settings(settings: Settings) -> Routes:
    """The dispatcher's routes: CDP_ROUTES_FILE, or none when only the API's hooks receive triggers. Checks the
    hook signing key too, so that a bad one fails before anything starts."""
    try:
        hooks = settings.hook_key() is not None
    except ValueError as exc:
        raise RoutesError(str(exc)) from None
    if settings.routes_file is not None:
        return load(settings.routes_file)
    if hooks:
        return Routes.empty()
    raise RoutesError(
        "neither CDP_ROUTES_FILE nor CDP_HOOK_SIGNING_KEY is set, so no trigger could be delivered. Hint: "
        "point CDP_ROUTES_FILE at a routes YAML (see examples/routes.yaml), or set a signing key to deliver "
        "to the API's hooks."
    )
