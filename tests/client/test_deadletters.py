"""Preparing a replay (pure): the worker's own decoder decides, all or nothing, and event ids follow the replays."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from schemas.deadletter import DeadLetter, DeadLetterReason, Replay
from streams.client.deadletters import (
    Choice,
    ChoiceError,
    ReplayRefused,
    choose,
    counts_by_reason,
    prepare,
    read_fixes,
    readable,
    replay_event_id,
    select,
)
from streams.settings import Settings
from streams.topics import Topics
from tests.support import builders as b

TOPICS = Topics(Settings())
AT = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _letter(value: bytes | None, n: int = 0, reason=DeadLetterReason.SCHEMA, topic: str | None = None) -> DeadLetter:
    topic = topic or TOPICS.segments
    return DeadLetter(
        id=f"{topic}/0/{n}",
        reason=reason,
        error="member_count: Input should be a valid integer",
        topic=topic,
        partition=0,
        offset=n,
        key_base64=base64.b64encode(b"high-value").decode(),
        value_base64=None if value is None else base64.b64encode(value).decode(),
        dead_lettered_at=datetime(2026, 12, 3, 7, n, tzinfo=UTC),
        worker="cdp-triggers",
    )


def _prepare(letters, fixes=None, history=None, force=False):
    return prepare(letters, fixes or {}, history or {}, TOPICS, 65536, "ops@host", AT, force)


def test_a_fixed_event_is_published_on_its_topic_with_publishs_key_and_an_id_derived_from_the_dead_letter():
    bad = json.dumps(b.segment("high-value", 10, 0.0, event_id="e-1") | {"member_count": "ten"}).encode()
    letter = _letter(bad)
    fixed = json.dumps(b.segment("high-value", 1010, 0.0, event_id="e-1")).encode()
    [p] = _prepare([letter], {letter.id: fixed})
    assert p.topic == TOPICS.segments and p.key == b"high-value"
    event = json.loads(p.value)
    assert event["member_count"] == 1010 and event["event_id"] == replay_event_id(letter.id, 1) != "e-1"
    assert p.replay.original_event_id == "e-1" and p.replay.fixed and p.replay.by == "ops@host"


def test_one_event_still_invalid_refuses_the_whole_replay_naming_it():
    good = _letter(json.dumps(b.segment("a", 5, 0.0)).encode(), 1)
    bad = _letter(b'{"segment_id": "b"}', 2)
    with pytest.raises(ReplayRefused) as refused:
        _prepare([good, bad])
    [problem] = refused.value.problems
    assert problem.startswith(f"{bad.id}: the original (give a fix with --fix) is still invalid: schema:")
    with pytest.raises(ReplayRefused, match="not_json"):
        _prepare([good], {good.id: b"not json"})


def test_a_replayed_dead_letter_is_refused_unless_forced_and_then_gets_a_new_event_id():
    letter = _letter(json.dumps(b.segment("a", 5, 0.0)).encode())
    first = _prepare([letter])[0].replay
    with pytest.raises(ReplayRefused, match="already replayed by ops@host"):
        _prepare([letter], history={letter.id: [first]})
    [again] = _prepare([letter], history={letter.id: [first]}, force=True)
    assert again.replay.event_id == replay_event_id(letter.id, 2) != first.event_id
    # Until a replay is recorded, running it again repeats its event id: the worker ignores the repeat.
    assert _prepare([letter])[0].replay.event_id == first.event_id


def test_a_fix_for_a_dead_letter_not_chosen_and_a_non_input_topic_are_refused():
    letter = _letter(json.dumps(b.segment("a", 5, 0.0)).encode())
    with pytest.raises(ReplayRefused, match="a fix for a dead letter that is not chosen"):
        _prepare([letter], {"elsewhere/0/1": b"{}"})
    with pytest.raises(ReplayRefused, match="is not an input topic"):
        _prepare([_letter(b"{}", topic="other-topic")])


def test_an_oversized_fix_is_refused_by_the_workers_limit():
    letter = _letter(b"x")
    huge = json.dumps(b.segment("a", 5, 0.0) | {"segment_name": "n" * 70_000}).encode()
    with pytest.raises(ReplayRefused, match="oversized"):
        _prepare([letter], {letter.id: huge})


def test_fix_files_are_json_lines_keyed_by_dead_letter_id_and_errors_name_the_line():
    text = '{"dead_letter_id": "t/0/1", "event": {"a": 1}}\n\n{"dead_letter_id": "t/0/2", "event": {}}\n'
    assert read_fixes(text, "fix.jsonl") == {"t/0/1": b'{"a":1}', "t/0/2": b"{}"}
    assert read_fixes('{"dead_letter_id": "t/0/3", "event": {"n": 18446744073709551616}}', "f") == {
        "t/0/3": b'{"n":18446744073709551616}'  # past 64 bits: encoded, for the decoder to refuse
    }
    with pytest.raises(ValueError, match="fix.jsonl line 1: not JSON"):
        read_fixes("{", "fix.jsonl")
    with pytest.raises(ValueError, match="line 2: expected"):
        read_fixes('{"dead_letter_id": "x", "event": 1}\n{"event": 1}', "fix.jsonl")
    with pytest.raises(ValueError, match="t/0/1 is fixed twice"):
        read_fixes('{"dead_letter_id": "t/0/1", "event": 1}\n' * 2, "fix.jsonl")


def test_selection_filters_and_orders_and_the_bytes_read_as_a_person_reads_them():
    letters = [_letter(b"{}", 3), _letter(b"x", 1, DeadLetterReason.NOT_JSON), _letter(None, 2, DeadLetterReason.EMPTY)]
    assert [d.offset for d in select(letters)] == [1, 2, 3]
    assert [d.offset for d in select(letters, Choice(reason=DeadLetterReason.NOT_JSON))] == [1]
    assert [d.offset for d in select(letters, Choice(since=datetime(2026, 12, 3, 7, 2, tzinfo=UTC)))] == [2, 3]
    assert counts_by_reason(letters) == {"empty": 1, "not_json": 1, "schema": 1}
    assert readable(b'{"a": 1}') == {"a": 1} and readable(b"plain") == "plain"
    assert readable(b"\xff") == {"base64": "/w=="} and readable(None) is None


def test_replay_records_say_who_and_when():
    replay = Replay(dead_letter_id="t/0/1", event_id="e", fixed=False, by="ops", at=AT)
    assert Replay.model_validate_json(replay.model_dump_json()) == replay


def test_a_replay_must_choose_and_every_id_it_names_must_exist_and_fixes_alone_choose():
    letters = [_letter(b"{}", 1), _letter(b"x", 2, DeadLetterReason.NOT_JSON)]
    with pytest.raises(ChoiceError, match="choose what to replay"):
        choose(letters, Choice(), {})
    with pytest.raises(ChoiceError, match=f"no such dead letter: {TOPICS.segments}/0/9"):
        choose(letters, Choice(ids=(letters[0].id, f"{TOPICS.segments}/0/9")), {})
    assert choose(letters, Choice(), {letters[1].id: b"{}"}) == [letters[1]]
    assert choose(letters, Choice(reason=DeadLetterReason.SCHEMA), {letters[1].id: b"{}"}) == [letters[0]]
