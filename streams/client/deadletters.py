"""Dead letters: selecting them, showing what was rejected, and preparing replays (pure).

A replay publishes an event in a dead letter's place, on its original topic with the key ``publish`` gives it,
validated by the worker's own decoder first: all of a replay or none of it. Its ``event_id`` is derived from the
dead-letter id and the replay's number: replaying again after a crash, before the replay was recorded, repeats
that id, and the worker ignores it; a forced replay gets a new one, and is applied."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from schemas.deadletter import DeadLetter, DeadLetterReason, Replay

from ..kafka.codec import Decoder, Rejected, encode
from ..topics import Topics
from .producer import CHANGE_KINDS

REPLAY_NAMESPACE = uuid.UUID("6f1c8a52-3d0e-4a57-9b64-2f4f6d3c9e01")


def replay_event_id(dead_letter_id: str, number: int) -> str:
    """The event id of a dead letter's ``number``-th replay (1 for the first)."""
    return str(uuid.uuid5(REPLAY_NAMESPACE, f"{dead_letter_id}#{number}"))


@dataclass(frozen=True)
class Choice:
    """Which dead letters: those with these ids, and passing every filter given."""

    ids: tuple[str, ...] = ()
    reason: DeadLetterReason | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def filters(self) -> bool:
        return any(f is not None for f in (self.reason, self.topic, self.since, self.until))


class ChoiceError(ValueError):
    """A replay that chose nothing, or named a dead letter that does not exist."""


def select(letters: Iterable[DeadLetter], choice: Choice = Choice()) -> list[DeadLetter]:
    """The dead letters ``choice`` takes, oldest first."""
    wanted = set(choice.ids)
    return sorted(
        (
            d
            for d in letters
            if (not wanted or d.id in wanted)
            and (choice.reason is None or d.reason == choice.reason)
            and (choice.topic is None or d.topic == choice.topic)
            and (choice.since is None or d.dead_lettered_at >= choice.since)
            and (choice.until is None or d.dead_lettered_at < choice.until)
        ),
        key=lambda d: (d.dead_lettered_at, d.id),
    )


def choose(letters: Iterable[DeadLetter], choice: Choice, fixes: dict[str, bytes]) -> list[DeadLetter]:
    """What a replay takes. Something must be chosen; with fixes and nothing else, the fixes choose."""
    if not choice.ids and not choice.filters() and not fixes:
        raise ChoiceError("choose what to replay: ids, a reason, a topic, a time range, or fixes")
    if not choice.ids and not choice.filters():
        choice = Choice(ids=tuple(fixes))
    chosen = select(letters, choice)
    missing = sorted(set(choice.ids) - {d.id for d in chosen})
    if missing:
        raise ChoiceError(f"no such dead letter: {', '.join(missing)}")
    return chosen


def original(letter: DeadLetter) -> tuple[bytes | None, bytes | None]:
    """The rejected message's key and value bytes."""

    def unb64(text: str | None) -> bytes | None:
        return None if text is None else base64.b64decode(text)

    return unb64(letter.key_base64), unb64(letter.value_base64)


def readable(raw: bytes | None) -> Any:
    """Bytes as a person reads them: JSON as its value, else text, else base64."""
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}


@dataclass(frozen=True)
class Prepared:
    """A replay ready to publish."""

    letter: DeadLetter
    topic: str
    key: bytes
    value: bytes
    replay: Replay


class ReplayRefused(Exception):
    """Nothing is published: one line per dead letter that cannot be replayed, and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_fixes(text: str, source: str) -> dict[str, bytes]:
    """``--fix``: JSON lines ``{"dead_letter_id": ..., "event": {...}}``; the corrected event's bytes by id."""
    fixes: dict[str, bytes] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source} line {n}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("dead_letter_id"), str) or "event" not in item:
            raise ValueError(f'{source} line {n}: expected {{"dead_letter_id": "...", "event": {{...}}}}')
        if item["dead_letter_id"] in fixes:
            raise ValueError(f"{source} line {n}: {item['dead_letter_id']} is fixed twice")
        fixes[item["dead_letter_id"]] = fix_bytes(item["event"])
    return fixes


def fix_bytes(event: Any) -> bytes:
    """A corrected event as the bytes to validate and replay. The standard encoder: any JSON value a client sent
    encodes (orjson refuses integers past 64 bits), and the decoder then says what is wrong with it."""
    return json.dumps(event, separators=(",", ":")).encode()


def prepare(
    letters: list[DeadLetter],
    fixes: dict[str, bytes],
    history: dict[str, list[Replay]],
    topics: Topics,
    max_event_bytes: int,
    by: str,
    at: datetime,
    force: bool = False,
) -> list[Prepared]:
    """The replays of ``letters`` (each with its fix, if any), or ReplayRefused naming every one that cannot be:
    still invalid, from a topic that is not an input, already replayed (unless ``force``), or a fix for a dead
    letter not chosen."""
    kinds = {kind.topic(topics): kind for kind in CHANGE_KINDS.values()}
    chosen = {d.id for d in letters}
    problems = [
        f"{i}: a fix for a dead letter that is not chosen (or does not exist)" for i in fixes if i not in chosen
    ]
    prepared = []
    for letter in letters:
        replays = history.get(letter.id, [])
        if replays and not force:
            last = replays[-1]
            problems.append(
                f"{letter.id}: already replayed by {last.by} at {last.at.isoformat()} (event {last.event_id}); "
                "--force replays it again, as a new event"
            )
            continue
        kind = kinds.get(letter.topic)
        if kind is None:
            problems.append(f"{letter.id}: {letter.topic} is not an input topic of these settings")
            continue
        raw = fixes.get(letter.id, original(letter)[1])
        decoder: Decoder[Any] = Decoder(kind.model, max_event_bytes)
        event = decoder.decode(raw)
        if isinstance(event, Rejected):
            where = "the fix" if letter.id in fixes else "the original (give a fix with --fix)"
            problems.append(f"{letter.id}: {where} is still invalid: {event.reason.value}: {event.error}")
            continue
        number = len(replays) + 1
        replayed = event.model_copy(update={"event_id": replay_event_id(letter.id, number)})
        value = encode(replayed)
        if len(value) > max_event_bytes:
            problems.append(f"{letter.id}: {len(value)} bytes exceeds CDP_MAX_EVENT_BYTES ({max_event_bytes})")
            continue
        replay = Replay(
            dead_letter_id=letter.id,
            event_id=replayed.event_id,
            original_event_id=_event_id_of(raw),
            fixed=letter.id in fixes,
            by=by,
            at=at,
        )
        prepared.append(Prepared(letter, letter.topic, kind.key(replayed).encode(), value, replay))
    if problems:
        raise ReplayRefused(problems)
    return prepared


def _event_id_of(raw: bytes | None) -> str | None:
    try:
        found = orjson.loads(raw or b"").get("event_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def counts_by_reason(letters: Iterable[DeadLetter]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for d in letters:
        counts[d.reason.value] = counts.get(d.reason.value, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
