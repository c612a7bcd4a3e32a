"""The least privilege each principal needs, declared once: the dev broker's
tests grant exactly these, and ``cdp-triggers acls ROLE`` prints them as
``kafka-acls.sh`` commands for any cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .settings import Settings
from .topics import Topics

Role = Literal["worker", "dispatcher", "producer", "api", "viewer", "operator", "topics"]
ROLES: tuple[Role, ...] = ("worker", "dispatcher", "producer", "api", "viewer", "operator", "topics")
# Faust's state tables, whose changelogs are <app id>-<table>-changelog.
WORKER_TABLES = ("datasources", "threshold-entities", "refresh-runs", "run-clocks")
DISPATCHER_TABLES = ("deliveries",)


@dataclass(frozen=True)
class Acl:
    resource: Literal["topic", "group"]
    names: tuple[str, ...]
    operations: tuple[str, ...]  # Kafka's operation names: Read, Write, Describe, Create
    why: str


def acls(role: Role, settings: Settings) -> list[Acl]:
    """Everything ``role`` does, and nothing more: literal names only."""
    t = Topics(settings)
    inputs = (t.datasources, t.segments, t.measures, t.runs)
    if role == "worker":
        internal = (
            *(f"{settings.app_id}-{table}-changelog" for table in WORKER_TABLES),
            *(t.control(agent) for agent in Topics.AGENTS),
        )
        return [
            Acl("topic", (*inputs, t.subscriptions), ("Read", "Describe"), "change events and subscriptions in"),
            Acl(
                "topic",
                (t.actions, t.dead_letter, t.explain_replies),
                ("Write", "Describe"),
                "trigger events, dead letters and answers to 'explain' out",
            ),
            Acl("topic", internal, ("Read", "Write", "Describe", "Create"), "state changelogs and control topics"),
            Acl("group", (settings.app_id,), ("Read", "Describe"), "its consumer group and its committed offsets"),
        ]
    if role == "dispatcher":
        app = settings.dispatcher_app_id
        internal = (*(f"{app}-{table}-changelog" for table in DISPATCHER_TABLES), t.dispatcher_control)
        return [
            Acl("topic", (t.actions, t.redeliveries), ("Read", "Describe"), "trigger events and redeliveries in"),
            Acl("topic", (t.hooks,), ("Read", "Describe"), "the API's webhook registrations"),
            Acl(
                "topic",
                (t.delivery_dead_letter, t.delivery_attempts),
                ("Write", "Describe"),
                "deliveries given up, and every attempt",
            ),
            Acl("topic", internal, ("Read", "Write", "Describe", "Create"), "delivery records and control topic"),
            Acl("group", (app,), ("Read", "Describe"), "its consumer group and its committed offsets"),
        ]
    if role == "producer":
        return [
            Acl("topic", (*inputs, t.subscriptions), ("Write", "Describe"), "change events and subscriptions"),
            Acl("topic", (t.subscriptions,), ("Read",), "'subscriptions list' and 'remove' read them"),
        ]
    if role == "api":  # and the operate routes (dead letters, deliveries) and explain, as the operator does
        return [
            Acl("topic", (t.subscriptions, t.hooks), ("Read", "Write", "Describe"), "subscriptions and hooks"),
            Acl(
                "topic",
                (t.api_keys,),
                ("Read", "Write", "Describe"),
                "API keys (hashes): checked on every request, created and revoked with an admin key",
            ),
            Acl("topic", inputs, ("Write", "Describe"), "change events posted to /v1/events, and replays"),
            Acl("topic", (t.audit,), ("Write",), "the record of every change made through it"),
            Acl("topic", (t.runs,), ("Read",), "the recent refresh runs it lists (their keys and times only)"),
            *_operations(t, settings)[1:],
        ]
    if role == "operator":
        return [
            *_operations(t, settings),
            Acl(
                "topic",
                (t.subscriptions, t.api_keys),
                ("Read", "Describe"),
                "'status' counts subscriptions and API keys (hashes only; not the hooks' URLs)",
            ),
        ]
    if role == "topics":  # the one principal that creates topics (the chart's topics Job): no data access
        return [
            Acl(
                "topic",
                tuple(spec.name for spec in t.specs()),
                ("Create", "Describe"),
                "'topics create' makes the missing ones, with their partitions and compaction",
            )
        ]
    return [Acl("topic", (t.actions,), ("Read", "Describe"), "'tail' follows the trigger events")]


def _operations(t: Topics, settings: Settings) -> list[Acl]:
    """What operating the pipeline takes, from the CLI (operator) or the API's operate and read routes and its
    console (api): dead letters and their replays, given-up deliveries and redeliveries, delivery attempts,
    explain, status."""
    inputs = (t.datasources, t.segments, t.measures, t.runs)
    return [  # the first, the input topics, the api role has already
        Acl("topic", inputs, ("Write", "Describe"), "'dead-letters replay' publishes on the input topics"),
        Acl("topic", (t.dead_letter,), ("Read", "Describe"), "'dead-letters list' and 'show' read them"),
        Acl("topic", (t.dead_letter_replays,), ("Read", "Write", "Describe"), "the record of every replay"),
        Acl(
            "topic",
            (t.delivery_dead_letter, f"{settings.dispatcher_app_id}-deliveries-changelog"),
            ("Read", "Describe"),
            "'deliveries list' reads what was given up, and what was delivered since",
        ),
        Acl("topic", (t.redeliveries,), ("Write", "Describe"), "'deliveries redeliver' asks the dispatcher"),
        Acl("topic", (t.delivery_attempts,), ("Read", "Describe"), "'deliveries attempts' reads every attempt"),
        Acl("topic", tuple(t.control(a) for a in Topics.AGENTS), ("Write", "Describe"), "'explain' asks the workers"),
        Acl("topic", (t.explain_replies,), ("Read", "Describe"), "and reads their answers"),
        Acl("topic", (t.audit,), ("Read", "Describe"), "the record of the changes made through the API"),
        Acl("topic", (t.actions,), ("Read", "Describe"), "'status' and the console count and list the triggers"),
        Acl(
            "group",
            (settings.app_id, settings.dispatcher_app_id),
            ("Describe",),
            "'status' and the console's overview read the groups' members and committed offsets",
        ),
    ]


def kafka_acls_commands(role: Role, principal: str, settings: Settings) -> list[str]:
    return [
        f"kafka-acls.sh --bootstrap-server {settings.kafka_bootstrap} --command-config admin.properties --add "
        f"--allow-principal {principal} "
        + " ".join(f"--operation {op}" for op in acl.operations)
        + " "
        + " ".join(f"--{acl.resource} {name}" for name in acl.names)
        for acl in acls(role, settings)
    ]


def topics_of(role: Role, settings: Settings) -> set[str]:
    """The topics a role's process makes sure exist at start (the ones it may see)."""
    t = Topics(settings)
    if role == "worker":
        return {
            t.datasources,
            t.segments,
            t.measures,
            t.runs,
            t.subscriptions,
            t.actions,
            t.dead_letter,
            *(t.control(agent) for agent in Topics.AGENTS),
        }
    if role == "dispatcher":
        return {t.actions, t.redeliveries, t.hooks, t.delivery_dead_letter, t.delivery_attempts, t.dispatcher_control}
    if role == "api":
        return {t.subscriptions, t.hooks, t.api_keys, t.explain_replies, t.audit}
    if role == "operator":
        return {
            t.dead_letter,
            t.dead_letter_replays,
            t.datasources,
            t.segments,
            t.measures,
            t.runs,
            t.redeliveries,
            t.actions,
            t.subscriptions,
            t.api_keys,
            t.explain_replies,
            t.delivery_attempts,
        }
    return {spec.name for spec in t.specs()}


__all__ = ["Acl", "ROLES", "Role", "acls", "kafka_acls_commands", "topics_of"]
