"""A Schema Registry client over Confluent's REST API (Confluent, Apicurio's ``/apis/ccompat/v7``, Redpanda,
Karapace): what registering, checking and decoding need, and nothing else. Every call is bounded by
``CDP_SCHEMA_REGISTRY_TIMEOUT_SECONDS``, connection included.

Its errors keep apart what is the registry's fault (``RegistryUnavailable``: it cannot be reached, is slow, or
answers 5xx; a caller waits and retries, never blames the data) from what the registry says about a schema
(``UnknownSchema``, ``Incompatible``, ``RegistryRefused``)."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import fastavro

from ..settings import ConfigError, Settings
from .codec import Writer

SchemaType = Literal["AVRO", "JSON"]
MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
log = logging.getLogger("cdp_triggers.registry")
Level = Literal["BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"]


class RegistryError(Exception):
    """Something the registry said, or could not say."""


class RegistryUnavailable(RegistryError):
    """Not reached within the bound, or a 5xx: the registry's fault, not the schema's or the data's."""


class UnknownSchema(RegistryError):
    """The registry has no schema by that id (404)."""


class Incompatible(RegistryError):
    """The registry refused a schema under the subject's compatibility level (409)."""


class RegistryRefused(RegistryError):
    """Any other 4xx: an invalid schema, bad credentials, a forbidden subject."""


@dataclass(frozen=True)
class Registered:
    subject: str
    version: int
    id: int


@dataclass(frozen=True)
class FetchedSchema:
    id: int
    schema_type: SchemaType
    text: str


class SchemaRegistry:
    """``async with SchemaRegistry(settings) as registry``: one HTTP session for its calls."""

    def __init__(self, settings: Settings) -> None:
        if not settings.schema_registry_url:
            raise ConfigError("CDP_SCHEMA_REGISTRY_URL is not set: the registry's URL, e.g. http://registry:8081")
        self.url = settings.schema_registry_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=settings.schema_registry_timeout_seconds)
        self._auth = _auth(settings.schema_registry_basic_auth_file)
        self._tls: ssl.SSLContext | bool = (
            _tls(settings.schema_registry_ca_file) if self.url.startswith("https://") else True
        )
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> SchemaRegistry:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, auth=self._auth, headers={"Accept": MEDIA_TYPE}, raise_for_status=False
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def schema(self, schema_id: int) -> FetchedSchema:
        """The schema registered under ``schema_id``; ``UnknownSchema`` when there is none."""
        found = await self._call("GET", f"/schemas/ids/{schema_id}", unknown=UnknownSchema)
        return FetchedSchema(schema_id, found.get("schemaType", "AVRO"), found["schema"])

    async def lookup(self, subject: str, text: str, schema_type: SchemaType) -> Registered | None:
        """The version of ``subject`` that holds exactly this schema, or None."""
        try:
            found = await self._call("POST", f"/subjects/{_seg(subject)}", _body(text, schema_type), UnknownSchema)
        except UnknownSchema:
            return None
        return Registered(subject, int(found["version"]), int(found["id"]))

    async def register(self, subject: str, text: str, schema_type: SchemaType) -> int:
        """Register the schema under ``subject`` (a no-op when it holds it already): its id. ``Incompatible`` with
        the registry's message when the subject's level refuses it."""
        found = await self._call("POST", f"/subjects/{_seg(subject)}/versions", _body(text, schema_type))
        return int(found["id"])

    async def set_level(self, subject: str, level: Level) -> None:
        await self._call("PUT", f"/config/{_seg(subject)}", {"compatibility": level})

    async def compatible(self, subject: str, text: str, schema_type: SchemaType) -> tuple[bool, list[str]]:
        """Whether the subject's level would take this schema, and the registry's reasons when not (a subject
        with no version takes anything)."""
        try:
            found = await self._call(
                "POST",
                f"/compatibility/subjects/{_seg(subject)}/versions/latest?verbose=true",
                _body(text, schema_type),
                UnknownSchema,
            )
        except UnknownSchema:
            return True, []
        return bool(found["is_compatible"]), [str(m) for m in found.get("messages") or []]

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, unknown: type[RegistryError] | None = None
    ) -> Any:
        assert self._session is not None, "use 'async with SchemaRegistry(...)'"
        try:
            async with self._session.request(
                method, self.url + path, json=body, ssl=self._tls, headers={"Content-Type": MEDIA_TYPE}
            ) as answer:
                text = await answer.text()
                status = answer.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RegistryUnavailable(
                f"the Schema Registry at {self.url} did not answer {method} {path.split('?')[0]} within "
                f"{self._timeout.total:g} s ({type(exc).__name__})"
            ) from None
        said = _message(text)
        if status < 300:
            return _json(text)
        if status == 404 and unknown is not None:
            raise unknown(said)
        if status == 409:
            raise Incompatible(said)
        if status >= 500 or status in (408, 429):
            raise RegistryUnavailable(f"the Schema Registry at {self.url} answered {status}: {said}")
        raise RegistryRefused(f"the Schema Registry refused {method} {path.split('?')[0]} with {status}: {said}")


def _seg(subject: str) -> str:
    return quote(subject, safe="")


def _body(text: str, schema_type: SchemaType) -> dict[str, str]:
    return {"schema": text, "schemaType": schema_type}


def _json(text: str) -> Any:
    return json.loads(text) if text else {}


def _message(text: str) -> str:
    try:
        found = _json(text)
    except ValueError:
        return text[:500]
    return str(found.get("message", found))[:500] if isinstance(found, dict) else str(found)[:500]


def _auth(path: Path | None) -> aiohttp.BasicAuth | None:
    if path is None:
        return None
    user, sep, password = Path(path).read_text().strip().partition(":")
    if not sep or not user:
        raise ConfigError("CDP_SCHEMA_REGISTRY_BASIC_AUTH_FILE: expected one line, user:password")
    return aiohttp.BasicAuth(user, password)


def _tls(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"CDP_SCHEMA_REGISTRY_CA_FILE: not a PEM file of CA certificates ({exc})") from None


class WriterSchemas:
    """Writer schemas by id for the decoder: each fetched once, at most ``limit`` held (least recently used out).

    An unknown id is the data's fault: ``get`` answers None and the event is dead-lettered. An unavailable registry
    is not: ``get`` waits and tries again, says so once, and fails the process through ``bound`` (its health) when
    the wait outlasts it, so that it is restarted rather than dead-letter valid events."""

    def __init__(
        self,
        settings: Settings,
        bound: Callable[[str, str], AbstractContextManager[None]],
        counted: Callable[[str], None] = lambda outcome: None,
        limit: int = 1000,
    ):
        self._settings = settings
        self._counted = counted
        self._bound = bound
        self._limit = limit
        self._held: OrderedDict[int, Writer] = OrderedDict()
        self._waiting = False

    async def get(self, schema_id: int) -> Writer | None:
        found = self._held.get(schema_id)
        if found is not None:
            self._held.move_to_end(schema_id)
            return found
        with self._bound("schema registry", f"writer schema {schema_id} from {self._settings.schema_registry_url}"):
            fetched = await self._fetch(schema_id)
        if fetched is None:
            return None
        avro = None
        if fetched.schema_type == "AVRO":
            try:
                avro = fastavro.parse_schema(json.loads(fetched.text))
            except (ValueError, fastavro.schema.SchemaParseException) as exc:
                log.error("schema id %d in the registry is not a valid Avro schema: %s", schema_id, exc)
                return None
        writer = self._held[schema_id] = Writer(schema_id, avro)
        while len(self._held) > self._limit:
            self._held.popitem(last=False)
        return writer

    async def _fetch(self, schema_id: int) -> FetchedSchema | None:
        delay = 0.5
        while True:
            try:
                async with SchemaRegistry(self._settings) as registry:
                    fetched = await registry.schema(schema_id)
            except UnknownSchema:
                self._counted("unknown")
                return None
            except (RegistryUnavailable, RegistryRefused) as exc:
                self._counted("unavailable")
                if not self._waiting:
                    log.error("%s: waiting for it; no event is dead-lettered for it meanwhile", exc)
                    self._waiting = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if self._waiting:
                log.warning("the Schema Registry answers again")
                self._waiting = False
            self._counted("fetched")
            return fetched
