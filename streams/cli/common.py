"""What every command shares: settings, one-sentence errors, exit codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NoReturn

import typer

from ..kafka.exits import EXIT_CONFIG, EXIT_FAILED
from ..settings import ConfigError, Settings, load_settings


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def say(message: str) -> None:
    typer.secho(f"» {message}", err=True, fg=typer.colors.CYAN)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)


def one_line(exc: Exception) -> str:
    from pydantic import ValidationError

    from schemas import errors

    return errors.one_line(exc, root="value", limit=100) if isinstance(exc, ValidationError) else str(exc)


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine, turning Kafka being down or topics missing into one sentence with a hint."""
    import asyncio

    from aiokafka.errors import (
        GroupAuthorizationFailedError,
        KafkaConnectionError,
        KafkaTimeoutError,
        TopicAuthorizationFailedError,
    )

    from ..kafka.clients import KafkaConnection, MissingTopicsError, diagnose

    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]  # typer commands hand any awaitable factory
    except (KafkaConnectionError, ConnectionError):
        # aiokafka only says it could not bootstrap; find out why, in one sentence
        problem = asyncio.run(diagnose(KafkaConnection(settings())))
        if problem.configuration:
            fail(f"{problem}.", EXIT_CONFIG)
        fail(f"{problem}. Hint: 'cdp-triggers broker start' for the dev broker.")
    except MissingTopicsError as exc:
        if settings().kafka_security_protocol != "PLAINTEXT":  # a broker hides the topics a principal may not see
            fail(f"{exc}, or this principal may not see them: check its ACLs ('cdp-triggers acls ROLE').", EXIT_CONFIG)
        fail(f"{exc}. Hint: 'cdp-triggers topics create' (or start a worker), and check CDP_TOPIC_PREFIX.")
    except KafkaTimeoutError as exc:
        fail(f"Kafka did not answer in time: {exc}")
    except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as exc:
        said = str(exc.args[0]).rstrip(".") if exc.args else exc.description
        who = KafkaConnection(settings()).describe()
        fail(f"{who} was refused ({said}: a missing ACL): see 'cdp-triggers acls --help'", EXIT_CONFIG)


def ensure_topics(settings: Settings) -> list[str]:
    import asyncio

    from ..kafka.clients import ensure_topics as create

    try:
        return asyncio.run(create(settings))
    except ConnectionError as exc:
        fail(f"{exc}. Hint: start the dev broker with 'cdp-triggers broker start'.")
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)


def when(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time given to ``option``, with its time zone; a bad one fails naming the option."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: expected an ISO 8601 time, e.g. 2026-12-03T08:00:00+00:00", EXIT_CONFIG)
    if at.tzinfo is None:
        fail(f"{option} {text!r}: give a time zone (e.g. +00:00 or Z)", EXIT_CONFIG)
    return at
