from types import SimpleNamespace

import pytest

from schemas.routes import TARGETS, Receiver
from streams.delivery.receivers import KINDS, ResolvedReceiver, kind_of


def test_every_receiver_kind_of_the_routes_file_has_a_sender_and_no_other():
    assert set(KINDS) == set(TARGETS)


def test_a_kind_without_a_sender_fails_instead_of_falling_back():
    receiver = ResolvedReceiver(Receiver.model_validate({"name": "x", "teams": {"url": {"env": "U"}}}))
    assert kind_of(receiver).name == "teams"
    unknown = ResolvedReceiver(SimpleNamespace(name="pager-duty", kind="pager"))
    with pytest.raises(ValueError, match="pager-duty.*no sender for kind 'pager'"):
        kind_of(unknown)
