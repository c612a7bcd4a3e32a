"""Errors as ``application/problem+json`` (RFC 9457): a type URI per kind of
problem, a detail that names the field, and for invalid input every field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import invalid

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:cdp-triggers:problem:"


class FieldError(BaseModel):
    index: int | None = Field(None, description="In a batch: the item's position, from 0 (absent otherwise)")
    field: str = Field(
        description="Where: body.threshold, path.hook_id, header.X-API-Key; in a batch item: kind, "
        "event.member_count ..."
    )
    message: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URN naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = Field(None, description="The request path")
    errors: list[FieldError] | None = Field(None, description="Each invalid field (status 422)")


TITLES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


class ProblemError(Exception):
    """Raised by handlers; becomes a problem response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """``extra``: members of the problem beyond RFC 9457's (e.g. which items of a batch were written)."""
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.kind = kind or TITLES.get(status, "error")
        self.extra = extra or {}

    def body(self, instance: str) -> dict[str, Any]:
        problem = Problem(
            type=TYPE_PREFIX + self.kind,
            title=self.kind.replace("-", " ").capitalize(),
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )
        return {**problem.model_dump(mode="json", exclude_none=True), **self.extra}


def field_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    """pydantic / FastAPI errors as (field, message), the field as a dotted path."""
    return [FieldError(field=e.field or "body", message=e.message) for e in invalid(errors)]


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problems an operation can answer with."""
    return {
        status: {
            "model": Problem,
            "description": TITLES[status].replace("-", " "),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
