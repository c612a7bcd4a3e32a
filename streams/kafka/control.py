"""The control-topic protocol, once.

Faust refuses table writes outside stream iteration, and a write goes to the
changelog partition of the message being processed. So anything a timer wants
done to state is sent as a command to the agent's own control topic, on the
partition that owns the state, and the agent applies it like an input event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import orjson


@dataclass(frozen=True, slots=True)
class Nudge:
    """Re-read messages Faust skipped at the end of ``topic`` (see ``continuity``)."""

    kind: ClassVar[str] = "nudge"
    topic: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Bring time to one refresh run: stall it or evict it as of ``now_us``."""

    kind: ClassVar[str] = "tick"
    run_id: str
    now_us: int


@dataclass(frozen=True, slots=True)
class Sweep:
    """Drop delivery records of this partition stored before ``before`` (epoch seconds)."""

    kind: ClassVar[str] = "sweep"
    partition: int
    before: float


@dataclass(frozen=True, slots=True)
class Explain:
    """Answer with what the state of ``key`` says (sent by ``cdp-triggers explain`` and the API: the partition's
    owner answers from its own state, in the stream, on the replies topic of its settings: never on a topic the
    request names, as anyone allowed to ask could then make a worker write anywhere it may)."""

    kind: ClassVar[str] = "explain"
    request_id: str
    key: str
    keys: tuple[str, ...] = ()  # more keys of the same partition, each answered on its own (a page's entities)


Command = Nudge | Tick | Sweep | Explain
_BY_KIND: dict[str, type[Any]] = {c.kind: c for c in (Nudge, Tick, Sweep, Explain)}


def encode(command: Command) -> bytes:
    return orjson.dumps({"kind": command.kind, **asdict(command)})


def decode(raw: bytes) -> Command:
    """ValueError for what is not a command: a control topic others may write to (explain requests) must not
    stop the agent that reads it."""
    try:
        document = orjson.loads(raw)
        cls = _BY_KIND[document["kind"]]
        # a field a sender leaves out takes its default (older senders); one without a default is required
        given = {f.name: _frozen(document[f.name]) for f in fields(cls) if f.name in document}
        return cls(**given)  # type: ignore[no-any-return]  # one of Command
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a control command: {exc!r}") from None


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value  # commands are frozen: JSON arrays as tuples
