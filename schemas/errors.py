"""pydantic's validation errors as people read them: one place for the CLI,
the API's problem details, dead-letter reasons and configuration errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Invalid:
    field: str  # the dotted path ("tasks.0.name"); "" for a check across fields
    message: str  # pydantic's message, without its "Value error, " prefix
    input: Any  # the value refused (never shown for a secret: see streams.settings)


def invalid(errors: ValidationError | Iterable[Mapping[str, Any]]) -> list[Invalid]:
    """Each error of a ValidationError (or of FastAPI's list of them)."""
    found = errors.errors(include_url=False) if isinstance(errors, ValidationError) else errors
    return [
        Invalid(
            ".".join(str(p) for p in err.get("loc", ())),
            str(err.get("msg", "invalid")).removeprefix("Value error, "),
            err.get("input"),
        )
        for err in found
    ]


def one_line(exc: ValidationError, root: str = "(root)", limit: int = 10) -> str:
    """``field: message; field: message`` for the first ``limit`` errors; ``root`` names a field-less one."""
    return "; ".join(f"{e.field or root}: {e.message}" for e in invalid(exc)[:limit])
