"""The routes file: where trigger events are delivered.

``receivers`` name the destinations (Teams, email, webhook); ``route`` is a
tree like Alertmanager's: a node whose ``match`` fits the event tries its
children in order; the first child that matches takes the event unless it
says ``continue: true``; a node none of whose children matched delivers to
its own ``receiver`` (inherited from its parent when unset).

Secrets (webhook URLs, SMTP passwords, signing keys) are never written in the
file itself: each is a reference ``{env: NAME}`` or ``{file: /path}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .triggers import TriggerType

TRIGGER_NAMES = sorted(t.short for t in TriggerType)
Address = Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$", max_length=320)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecretRef(_Model):
    """Where a secret is read from: an environment variable or a file (its
    content, stripped of surrounding whitespace)."""

    env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="An environment variable's name")
    file: str | None = Field(None, description="A file's path (a mounted secret); its content, whitespace stripped")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"


class RetryPolicy(_Model):
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts in all, the first included")
    initial_backoff_seconds: float = Field(1.0, gt=0, le=3600, description="Wait before the 2nd attempt")
    max_backoff_seconds: float = Field(30.0, gt=0, le=3600, description="Cap on any wait, Retry-After included")
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="One attempt, connect to last byte")


class TeamsTarget(_Model):
    """A Teams Workflows ('Post to a channel when a webhook request is received') URL."""

    url: SecretRef = Field(description="The workflow's webhook URL (it holds a signature: a secret)")


class WebhookTarget(_Model):
    """Any HTTP endpoint: CloudEvents over HTTP, signed per Standard Webhooks."""

    url: SecretRef = Field(description="Where to POST; a secret, as URLs often carry tokens")
    signing_secret: SecretRef | None = Field(
        None, description="Standard Webhooks key, 'whsec_' + base64; unsigned when absent"
    )
    mode: Literal["structured", "binary"] = Field(
        "structured", description="CloudEvents HTTP binding mode; 'binary' sends data as application/json"
    )


class SmtpServer(_Model):
    host: str = Field(min_length=1, description="The SMTP server")
    port: int = Field(587, ge=1, le=65535, description="587 for starttls, 465 for tls")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade after connect (587); tls: implicit TLS (465); none: plain"
    )
    username: str | None = Field(None, description="AUTH user; give it with password, or neither")
    password: SecretRef | None = Field(None, description="AUTH password")
    validate_certs: bool = Field(True, description="Verify the server's certificate (turn off only for a test server)")

    @model_validator(mode="after")
    def _password_with_username(self) -> SmtpServer:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password', or neither")
        return self


class EmailTarget(_Model):
    sender: Address = Field(alias="from", description="The sender address")
    to: list[Address] = Field(default_factory=list, description="Recipients, every trigger")
    to_owner: bool = Field(False, description="Also mail the subscription owner, when it is an address")
    smtp: SmtpServer = Field(description="How to send")

    @model_validator(mode="after")
    def _someone(self) -> EmailTarget:
        if not self.to and not self.to_owner:
            raise ValueError("give 'to' addresses, or 'to_owner: true', or both")
        return self


ReceiverKind = Literal["teams", "email", "webhook"]
TARGETS: tuple[ReceiverKind, ...] = ("teams", "email", "webhook")  # the receiver kinds: one field of Receiver each


class Receiver(_Model):
    name: Name = Field(description="What routes call it; unique")
    teams: TeamsTarget | None = Field(None, description="A Teams channel (exactly one of teams, email, webhook)")
    email: EmailTarget | None = Field(None, description="Email over SMTP")
    webhook: WebhookTarget | None = Field(None, description="Any HTTP endpoint")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Attempts and waits, per delivery")

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Receiver:
        given = [k for k in TARGETS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"receiver {self.name!r}: give exactly one of teams, email, webhook (got {given or 'none'})"
            )
        return self

    @property
    def kind(self) -> ReceiverKind:
        return next(k for k in TARGETS if getattr(self, k) is not None)

    @property
    def target(self) -> BaseModel:
        target: BaseModel = getattr(self, self.kind)
        return target


class Match(_Model):
    """All given conditions must hold; an empty match matches everything.
    Lists mean 'any of'; subjects are globs (``*``, ``?``)."""

    types: list[str] = Field(default_factory=list, description=f"Trigger names: {', '.join(TRIGGER_NAMES)}")
    subjects: list[str] = Field(default_factory=list, description="e.g. 'segment/vip-*', 'data-source/crm'")
    owners: list[str] = Field(default_factory=list, description="Subscription owner (threshold triggers)")
    labels: dict[str, str] = Field(default_factory=dict, description="Subscription labels, all must be equal")

    @model_validator(mode="after")
    def _known_types(self) -> Match:
        unknown = [t for t in self.types if t not in TRIGGER_NAMES]
        if unknown:
            raise ValueError(f"unknown trigger type {unknown[0]!r}; known: {', '.join(TRIGGER_NAMES)}")
        return self

    def subject_patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(re.escape(s).replace(r"\*", ".*").replace(r"\?", ".") + r"\Z") for s in self.subjects]


class Route(_Model):
    match: Match = Field(default_factory=Match, description="Which trigger events this route takes; empty: all")
    receiver: str | None = Field(None, description="Receiver name; inherited from the parent route when unset")
    continue_: bool = Field(False, alias="continue", description="After matching, keep trying later siblings")
    routes: list[Route] = Field(default_factory=list, description="Child routes, tried in order")


class RoutesFile(_Model):
    receivers: list[Receiver] = Field(description="Every destination, each with its settings and secrets")
    route: Route = Field(description="The root; its match is usually empty and its receiver the default (or none)")

    @model_validator(mode="after")
    def _references(self) -> RoutesFile:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receiver names must be unique: {', '.join(dupes)}")
        for route in _walk(self.route):
            if route.receiver is not None and route.receiver not in names:
                raise ValueError(f"route refers to unknown receiver {route.receiver!r}; defined: {', '.join(names)}")
        return self


def _walk(route: Route) -> list[Route]:
    return [route, *(r for child in route.routes for r in _walk(child))]
