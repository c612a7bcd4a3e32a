"""Asking the worker that owns a key what its state says (``cdp-triggers explain``, ``GET /v1/explain/...``).

The request goes to the owning agent's control topic, on the partition of the key's input events: whichever
worker holds that partition reads it in its stream, answers from its own state (what it decided is exactly what
it answers from, with the input offsets it reflects) and writes the answer to the replies topic, keyed by the
request's id. Nothing holds a second copy of the state, and any number of workers and entities work the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import TopicPartition

from schemas.deadletter import DeadLetter
from schemas.explain import ExplainReply
from schemas.subscriptions import ThresholdSubscription

from ..kafka.clients import KafkaConnection, close_bounded, partition_for, require_topics
from ..kafka.control import Explain, encode
from ..settings import Settings
from ..topics import Topics
from .deadletters import original, readable
from .operations import dead_letters

log = logging.getLogger(__name__)
DEAD_LETTERS_SHOWN = 10

Kind = Literal["segment", "measure", "data-source", "run"]
KINDS: tuple[Kind, ...] = ("segment", "measure", "data-source", "run")


@dataclass(frozen=True)
class Target:
    agent: str  # the detection agent holding the state
    input_topic: str  # whose partitioning places the key
    key: str  # the state key


_TARGETS: dict[str, Callable[[Topics, str], Target]] = {
    "segment": lambda t, i: Target("thresholds", t.segments, f"segment/{i}"),
    "measure": lambda t, i: Target("thresholds", t.measures, f"measure/{i}"),
    "data-source": lambda t, i: Target("datasources", t.datasources, i),
    "run": lambda t, i: Target("runs", t.runs, i),
}


def target(topics: Topics, kind: Kind, ident: str) -> Target:
    return _TARGETS[kind](topics, ident)


async def explain_subscription(
    settings: Settings, subscription: ThresholdSubscription, timeout: float = 10.0
) -> ExplainReply:
    """A subscription's part of its entity's answer: the entity's latest value and this subscription's state."""
    reply = await explain(settings, subscription.entity_kind, subscription.entity_id, timeout)
    said = dict(reply.explanation or {})
    said["subscriptions"] = [
        s for s in said.get("subscriptions", []) if s["subscription_id"] == subscription.subscription_id
    ]
    return reply.model_copy(update={"explanation": said})


class NoAnswer(Exception):
    """No worker answered in time: none holds the partition, or it is stopped or far behind."""


async def explain(settings: Settings, kind: Kind, ident: str, timeout: float = 10.0) -> ExplainReply:
    """What the state of ``ident`` says, from the worker that owns it, with a segment's or measure's dead letters;
    ``NoAnswer`` after ``timeout`` s, whatever Kafka does meanwhile."""
    aim = target(Topics(settings), kind, ident)
    deadline = time.monotonic() + timeout
    entity = kind in ("segment", "measure")
    rejected = asyncio.ensure_future(_dead_letters(settings, aim.input_topic, ident) if entity else _nothing())
    try:
        reply = await asyncio.wait_for(_ask(settings, kind, ident, timeout), timeout + 1)
    except TimeoutError:
        raise NoAnswer(f"no answer for {kind} {ident!r} within {timeout:g} s: Kafka did not answer in time") from None
    finally:  # the dead letters get what is left of the time
        await asyncio.wait([rejected], timeout=max(deadline - time.monotonic(), 1.0))
        rejected.cancel()
    found = None if rejected.cancelled() or rejected.exception() is not None else rejected.result()
    if found is None and entity:
        log.warning("the dead letters of %s %s were not read in time: the answer leaves them out", kind, ident)
    return reply.model_copy(update={"dead_letters": found})


async def _nothing() -> None:
    return None


async def _dead_letters(settings: Settings, topic: str, ident: str) -> list[DeadLetter]:
    """The dead letters of one entity's input: keyed by its id (as producers key them) or naming it."""

    def names(letter: DeadLetter) -> bool:
        key, value = original(letter)
        if key == ident.encode():
            return True
        doc = readable(value)
        return isinstance(doc, dict) and ident in (doc.get("segment_id"), doc.get("measure_id"))

    letters = [letter for letter in await dead_letters(settings) if letter.topic == topic and names(letter)]
    return sorted(letters, key=lambda letter: letter.dead_lettered_at, reverse=True)[:DEAD_LETTERS_SHOWN]


async def _ask(settings: Settings, kind: Kind, ident: str, timeout: float) -> ExplainReply:
    answered = await _ask_many(settings, kind, [ident], timeout)
    if ident not in answered:
        t = Topics(settings)
        raise NoAnswer(
            f"no worker answered for {kind} {ident!r} within {timeout:g} s: is a worker running, and caught up on "
            f"the partition of {target(t, kind, ident).input_topic} that holds it?"
        )
    return answered[ident]


async def explain_many(
    settings: Settings, kind: Kind, idents: list[str], timeout: float = 10.0
) -> dict[str, ExplainReply]:
    """What the state of each of ``idents`` says (a page's entities): one request per partition, each key answered
    on its own; those not answered within ``timeout`` s are left out."""
    try:
        return await asyncio.wait_for(_ask_many(settings, kind, idents, timeout), timeout + 1)
    except TimeoutError:
        return {}


async def _ask_many(settings: Settings, kind: Kind, idents: list[str], timeout: float) -> dict[str, ExplainReply]:
    t = Topics(settings)
    aims = {ident: target(t, kind, ident) for ident in dict.fromkeys(idents)}
    if not aims:
        return {}
    first = next(iter(aims.values()))
    control = t.control(first.agent)
    connection = KafkaConnection(settings)
    producer = connection.producer(request_timeout_ms=int(timeout * 1000))
    replies = connection.consumer(group_id=None, enable_auto_commit=False)
    request_id = str(uuid.uuid4())
    deadline = time.monotonic() + timeout
    found: dict[str, ExplainReply] = {}
    try:
        await producer.start()
        await replies.start()

        async def existing() -> set[str]:
            return set((await producer.client.fetch_all_metadata()).topics())

        await require_topics(existing, [first.input_topic, control, t.explain_replies])
        count = len(await producer.partitions_for(first.input_topic))
        by_partition: dict[int, list[str]] = {}
        for ident in aims:  # where the producers put each key's events
            by_partition.setdefault(partition_for(ident.encode(), count), []).append(ident)
        answers = TopicPartition(t.explain_replies, 0)
        replies.assign([answers])
        await replies.seek_to_end(answers)
        await replies.position(answers)  # from here on: no answer can come before it
        for partition, group in by_partition.items():
            keys = [aims[ident].key for ident in group]
            request = Explain(request_id=request_id, key=keys[0], keys=tuple(keys[1:]))
            await producer.send_and_wait(control, encode(request), key=keys[0].encode(), partition=partition)
        ident_of = {aim.key: ident for ident, aim in aims.items()}
        while len(found) < len(aims) and (left := deadline - time.monotonic()) > 0:
            batches = await replies.getmany(answers, timeout_ms=int(min(left, 0.5) * 1000))
            for record in batches.get(answers, []):
                if record.key == request_id.encode() and record.value is not None:
                    reply = ExplainReply.model_validate_json(record.value)
                    if reply.key in ident_of:
                        found[ident_of[reply.key]] = reply
        return found
    finally:
        await close_bounded(replies.stop(), "the explain reader")
        await close_bounded(producer.stop(), "the explain producer")


def render(kind: str, ident: str, reply: dict[str, Any]) -> list[str]:
    """The answer for people: what it says first, where it comes from last."""
    said = reply["explanation"] or {}
    lines = [f"{kind} {ident}"]
    if kind in ("segment", "measure"):
        if said.get("value") is None and not said.get("subscriptions"):
            lines.append("  no value and no subscription: the worker has seen no event for it")
        else:
            value = said["value"]
            lines.append(f"  latest value {value:g} at {said['event_time']}" if value is not None else "  no value yet")
        for sub in said.get("subscriptions", []):
            lines += _subscription(sub)
        for letter in reply.get("dead_letters") or []:
            lines.append(f"  dead letter {letter['id']} ({letter['reason']}): {letter['error']}")
    elif not said.get("known"):
        lines.append("  the worker has seen no event for it (or it was done with and evicted)")
    elif kind == "run":
        lines.append(f"  started {said['started_at']}, last event {said['last_event_at']}")
        for name, task in said["tasks"].items():
            lines.append(f"  task {name}: {task['status']} (started {task['started_at']}, done {task['finished_at']})")
        lines.append(f"  waiting for: {said['waiting_for']}")
        if said["stalls_at"]:
            lines.append(
                f"  stalls at {said['stalls_at']} unless it completes first; its partition's event time is "
                f"{said['partition_clock']} (a stall waits for the partition's events, or an idle partition's clock)"
            )
        lines.append(f"  fired: {', '.join(said['fired']) or 'nothing yet'}")
    else:
        lines.append(f"  latest event at {said['event_time']}")
        for attempt in said["runs"]:
            lines.append(
                f"  refresh {attempt['refresh_run_id']}: started {attempt['started_at']}, "
                f"{attempt['retried_failures']} retried failure(s), {_ended(attempt)}"
            )
    applied = ", ".join(f"{t}[{reply['partition']}] before offset {o}" for t, o in reply["applied"].items())
    lines.append(f"  (answered by {reply['worker']} at {reply['answered_at']}, from its state of {applied})")
    return lines


def _subscription(sub: dict[str, Any]) -> list[str]:
    lines = [f"  subscription {sub['subscription_id']}: {sub['status']}: {sub['why']}"]
    if sub.get("since"):
        lines.append(f"    {sub['status']} since event {sub['since']['event_id']} at {sub['since']['event_time']}")
    fired = sub.get("last_trigger")
    if fired:
        lines.append(
            f"    last trigger {fired['id']} on event {fired['event_id']} at {fired['event_time']}, "
            f"value {fired['value']:g}"
        )
    if sub.get("evaluations"):
        lines.append("    last evaluations, in arrival order, latest first:")
    for seen in sub.get("evaluations", []):
        lines.append(
            f"      {seen['event_time']} {seen['event_id']} {seen['value']:g}: {seen['outcome']}: {seen['why']}"
        )
    return lines


def _ended(attempt: dict[str, Any]) -> str:
    if attempt.get("outcome") is None:
        return "no outcome yet"
    return f"{attempt['outcome']} at {attempt['ended_at']} (event {attempt['event_id']})"
