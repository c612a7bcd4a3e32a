"""The dev Schema Registry tool itself (Apicurio Registry from Maven Central), on its own port and home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from devtools.registry import DevRegistry, answers
from devtools.settings import load_registry_settings
from tests.support.kafka import ROOT, free_port

pytestmark = pytest.mark.subprocess


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_start_is_idempotent_serves_confluents_api_and_stop_stops(tmp_path):
    dev = DevRegistry(load_registry_settings(port=free_port(), home=tmp_path / "home"))
    assert not dev.status().running
    first = dev.start()
    try:
        assert first.running and first.answering and first.url.endswith("/apis/ccompat/v7")
        assert dev.start().pid == first.pid  # no second JVM
        schema = {"type": "record", "name": "E", "fields": [{"name": "a", "type": "string"}]}
        status, made = _post(f"{dev.url}/subjects/t-value/versions", {"schema": json.dumps(schema)})
        assert status == 200 and isinstance(made["id"], int)
        with urllib.request.urlopen(f"{dev.url}/schemas/ids/{made['id']}", timeout=10) as answer:
            assert json.loads(json.loads(answer.read())["schema"]) == schema
        narrower = {**schema, "fields": [*schema["fields"], {"name": "b", "type": "int"}]}  # no default
        request = urllib.request.Request(
            f"{dev.url}/config/t-value",
            json.dumps({"compatibility": "BACKWARD"}).encode(),
            {"Content-Type": "application/vnd.schemaregistry.v1+json"},
            method="PUT",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        status, said = _post(f"{dev.url}/subjects/t-value/versions", {"schema": json.dumps(narrower)})
        assert status == 409, said  # an incompatible version is refused
    finally:
        assert dev.stop()
    assert not dev.status().running and not answers(dev.url)
    assert dev.stop() is False


def test_cli_status_exit_code_reflects_the_registry(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update({"CDP_REGISTRY_PORT": str(free_port()), "CDP_REGISTRY_HOME": str(tmp_path)})
    down = subprocess.run(
        [sys.executable, "-m", "streams.cli", "registry", "status"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert down.returncode == 3 and "not running" in down.stdout
