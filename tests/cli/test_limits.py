"""The CLI refuses input over the models' limits, or over CDP_MAX_EVENT_BYTES
once encoded, with exit code 2 and one line naming the limit, before it
connects: these run against a bootstrap address where no broker listens."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tests.support import kafka as support
from tests.support.cli import cli

pytestmark = pytest.mark.subprocess

NOWHERE = "127.0.0.1:9"  # discard port: nothing answers, so any attempt to connect would be the error


@pytest.fixture
def offline(tmp_path):
    return support.test_settings(NOWHERE, tmp_path)


def refused(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode == 2, (out.returncode, out.stderr)
    message = out.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, message


def run_started(tasks: int, name_length: int = 8) -> dict:
    return {
        "kind": "run_started",
        "run_id": "r",
        "trigger": "manual",
        "tasks": [{"kind": "segment", "name": f"{i:05d}".ljust(name_length, "x")} for i in range(tasks)],
    }


def test_publish_refuses_more_tasks_than_the_model_allows(offline):
    refused(cli(offline, "publish", "run", json.dumps(run_started(1001))), "tasks", "at most 1000")


def test_publish_refuses_an_event_over_max_event_bytes(offline):
    # 1000 tasks, within the model, but about 270 KB encoded: over the worker's 64 KiB (stdin: too long an argument)
    out = cli(offline, "publish", "run", "-", stdin=json.dumps(run_started(1000, name_length=230)))
    refused(out, "RefreshRunStarted", "over the limit of 65,536 (CDP_MAX_EVENT_BYTES)")


def test_publish_from_stdin_names_the_line_that_is_too_large(offline):
    lines = [json.dumps(run_started(3)), json.dumps(run_started(100, name_length=40))]
    out = cli(offline, "publish", "run", "-", stdin="\n".join(lines) + "\n", CDP_MAX_EVENT_BYTES="2048")
    refused(out, "line 2:", "over the limit of 2,048 (CDP_MAX_EVENT_BYTES)")


def test_subscriptions_apply_refuses_labels_over_the_limit_and_writes_none(offline, tmp_path):
    subscription = {"subscription_id": "s", "entity_kind": "segment", "entity_id": "vip", "threshold": 1, "owner": "o"}
    too_many = tmp_path / "many.yaml"
    too_many.write_text(
        yaml.safe_dump({"subscriptions": [{**subscription, "labels": {f"k{i}": "v" for i in range(65)}}]})
    )
    refused(cli(offline, "subscriptions", "apply", str(too_many)), "labels", "at most 64")

    large = tmp_path / "large.yaml"
    ok = {**subscription, "subscription_id": "ok"}
    big = {**subscription, "labels": {f"k{i}": "v" * 200 for i in range(10)}}
    large.write_text(yaml.safe_dump({"subscriptions": [ok, big]}))
    out = cli(offline, "subscriptions", "apply", str(large), CDP_MAX_EVENT_BYTES="1024")
    refused(out, "subscription 's'", "over the limit of 1,024 (CDP_MAX_EVENT_BYTES)")


def test_subscriptions_add_refuses_a_subscription_over_max_event_bytes(offline):
    labels = [arg for i in range(10) for arg in ("--label", f"k{i}={'v' * 200}")]
    args = ["subscriptions", "add", "s", "--kind", "segment", "--entity", "vip", "--threshold", "1", "--owner", "o"]
    refused(cli(offline, *args, *labels, CDP_MAX_EVENT_BYTES="1024"), "over the limit of 1,024")
