"""Microsoft Teams through a Workflows webhook: one Adaptive Card per trigger."""

from __future__ import annotations

from typing import Any

import orjson

from .. import render
from .base import ReceiverKind
from .http import HttpSender, check_url


class TeamsSender(HttpSender):
    def request(self, event: dict[str, Any], raw: bytes) -> tuple[dict[str, str], bytes]:
        return {"Content-Type": "application/json"}, orjson.dumps(render.teams_message(event))


KIND = ReceiverKind("teams", lambda r, session: TeamsSender(r.secret("url"), r.spec.retry, session), check_url)
