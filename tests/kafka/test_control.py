"""The control-topic protocol: every command survives the wire, and anything else is a ValueError (others may
write to a control topic now: explain requests), never a crash of the agent reading it."""

import pytest

from streams.kafka.control import Explain, Nudge, Sweep, Tick, decode, encode


def test_every_command_round_trips():
    for command in (
        Nudge("t"),
        Tick("r1", 5),
        Sweep(0, 1.5),
        Explain("id-1", "segment/vip"),
        Explain("id-2", "segment/a", ("segment/b", "segment/c")),
    ):
        assert decode(encode(command)) == command
    # a sender from before the batched form: its request still reads
    assert decode(b'{"kind": "explain", "request_id": "r", "key": "k"}') == Explain("r", "k")


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"kind": "unknown"}', b'{"kind": "tick", "run_id": "r"}', b"[]"])
def test_what_is_not_a_command_is_a_value_error(raw):
    with pytest.raises(ValueError, match="not a control command"):
        decode(raw)
