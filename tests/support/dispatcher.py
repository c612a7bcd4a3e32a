"""A dispatcher under test: its routes file (the README's examples and a signed
webhook) and its settings."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from tests.support.kafka import free_port
from tests.support.receivers import HttpReceiver, SmtpReceiver

SECRET = "whsec_" + base64.b64encode(b"dispatcher-test-key-32-bytes-ok!").decode()


def routes_file(tmp: Path, http: HttpReceiver, smtp: SmtpReceiver | None) -> tuple[Path, dict[str, str]]:
    """The README's two examples, plus a signed webhook for everything and a
    receiver that always answers 400 for data-source successes."""
    receivers = [
        {"name": "data-team-channel", "teams": {"url": {"env": "T_TEAMS_URL"}}},
        {
            "name": "hook",
            "webhook": {"url": {"env": "T_HOOK_URL"}, "signing_secret": {"env": "T_HOOK_SECRET"}},
            "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.2, "timeout_seconds": 5},
        },
        {"name": "broken", "webhook": {"url": {"env": "T_BROKEN_URL"}}, "retry": {"max_attempts": 3}},
    ]
    routes = [
        {"match": {"types": ["datasource.refresh.failed"]}, "receiver": "data-team-channel", "continue": True},
        {"match": {"types": ["datasource.refresh.succeeded"]}, "receiver": "broken", "continue": True},
    ]
    if smtp is not None:
        receivers.append(
            {
                "name": "segment-owners",
                "email": {
                    "from": "cdp@example.com",
                    "to_owner": True,
                    "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
                },
            }
        )
        routes.append(
            {"match": {"types": ["segment.threshold.crossed"]}, "receiver": "segment-owners", "continue": True}
        )
    routes.append({"receiver": "hook"})
    path = tmp / "routes.yaml"
    path.write_text(yaml.safe_dump({"receivers": receivers, "route": {"routes": routes}}))
    env = {
        "CDP_ROUTES_FILE": str(path),
        "T_TEAMS_URL": http.url("/teams"),
        "T_HOOK_URL": http.url("/hook"),
        "T_HOOK_SECRET": SECRET,
        "T_BROKEN_URL": http.url("/broken"),
    }
    return path, env


def dispatcher_settings(settings):
    return settings.model_copy(update={"metrics_port": free_port(), "instance_id": f"{settings.instance_id}-d"})


def produce_triggers(kafka, topic: str, n: int, subjects: int = 17) -> list[str]:
    """``n`` threshold-crossed trigger events straight onto the actions topic, over ``subjects`` subjects; their ids."""
    from tests.support import builders as b

    ids = [f"00000000-0000-5000-8000-{i:012d}" for i in range(n)]
    for i, trigger_id in enumerate(ids):
        event = b.trigger_event("crossed", trigger_id=trigger_id)
        event["subject"] = f"segment/s{i % subjects}"
        kafka.produce(topic, event["subject"], event)
    kafka.flush()
    return ids
