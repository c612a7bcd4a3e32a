"""The receivers, one module each, and the one map from a routes-file kind to
its declaration. Adding a receiver: a target model (and ``Receiver`` field) in
``schemas.routes``, a module here with its sender and ``KIND``, and an entry
in ``KINDS``; a test checks that the two lists agree."""

from __future__ import annotations

import aiohttp

from . import email, teams, webhook
from .base import ReceiverKind, ResolvedReceiver, Sender

KINDS: dict[str, ReceiverKind] = {kind.name: kind for kind in (teams.KIND, email.KIND, webhook.KIND)}


def kind_of(receiver: ResolvedReceiver) -> ReceiverKind:
    try:
        return KINDS[receiver.spec.kind]
    except KeyError:
        raise ValueError(f"receiver {receiver.spec.name!r}: no sender for kind {receiver.spec.kind!r}") from None


def make_sender(receiver: ResolvedReceiver, session: aiohttp.ClientSession) -> Sender:
    return kind_of(receiver).sender(receiver, session)


__all__ = ["KINDS", "ReceiverKind", "ResolvedReceiver", "Sender", "kind_of", "make_sender"]
