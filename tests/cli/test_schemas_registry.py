"""'schemas register' and 'schemas check' against a real Schema Registry (Apicurio, from the dev tool): the four
input kinds under their topics' subjects with a compatibility level, a second run that changes nothing, an
incompatible registration reported with the registry's message, and a producer's planned schema checked."""

from __future__ import annotations

import json

import pytest

from devtools.registry import DevRegistry
from schemas.avro import schema_of
from schemas.events import SegmentChange
from streams.settings import Settings
from streams.topics import Topics
from tests.support.cli import cli
from tests.support.kafka import free_port

pytestmark = pytest.mark.subprocess


def settings_for(registry: DevRegistry, prefix: str) -> Settings:
    # no broker is needed: the registry is the only thing these commands reach
    return Settings(kafka_bootstrap="127.0.0.1:9", topic_prefix=prefix, schema_registry_url=registry.url)


def _get(registry: DevRegistry, path: str):
    import urllib.request

    with urllib.request.urlopen(registry.url + path, timeout=10) as answer:
        return json.loads(answer.read())


def test_register_sets_each_subject_and_a_second_run_changes_nothing(registry):
    s = settings_for(registry, "reg1.")
    first = cli(s, "schemas", "register")
    assert first.returncode == 0, first.stderr
    subjects = [
        f"{topic}-value" for topic in (Topics(s).datasources, Topics(s).segments, Topics(s).measures, Topics(s).runs)
    ]
    for name in subjects:
        assert f"{name}: registered (avro, id " in first.stdout, first.stdout
        assert _get(registry, f"/subjects/{name}/versions") == [1]
        assert _get(registry, f"/config/{name}")["compatibilityLevel"] == "BACKWARD"
    held = _get(registry, f"/subjects/{subjects[1]}/versions/1")
    assert json.loads(held["schema"]) == schema_of(SegmentChange)
    again = cli(s, "schemas", "register")
    assert again.returncode == 0 and again.stdout.count(": unchanged (version 1, id ") == 4, again.stdout
    assert all(_get(registry, f"/subjects/{name}/versions") == [1] for name in subjects)


def test_an_incompatible_registration_is_refused_with_the_registrys_message(registry):
    import urllib.request

    s = settings_for(registry, "reg2.")
    name = f"{Topics(s).segments}-value"
    older = schema_of(SegmentChange)
    older = {**older, "fields": [f for f in older["fields"] if f["name"] != "segment_name"]}  # ours adds it, no default
    for path, body, method in (
        (f"/config/{name}", {"compatibility": "BACKWARD"}, "PUT"),
        (f"/subjects/{name}/versions", {"schema": json.dumps(older)}, "POST"),
    ):
        request = urllib.request.Request(
            registry.url + path,
            json.dumps(body).encode(),
            {"Content-Type": "application/vnd.schemaregistry.v1+json"},
            method=method,
        )
        urllib.request.urlopen(request, timeout=10).close()
    refused = cli(s, "schemas", "register")
    assert refused.returncode == 1
    assert "refused a schema as incompatible under BACKWARD" in refused.stderr, refused.stderr
    assert _get(registry, f"/subjects/{name}/versions") == [1]  # nothing registered over it


def test_check_tells_a_producer_whether_its_planned_schema_would_be_taken(registry, tmp_path):
    s = settings_for(registry, "reg3.")
    assert cli(s, "schemas", "register").returncode == 0
    current = schema_of(SegmentChange)
    widened = {
        **current,
        "fields": [*current["fields"], {"name": "region", "type": ["null", "string"], "default": None}],
    }
    narrowed = {**current, "fields": [*current["fields"], {"name": "region", "type": "string"}]}  # no default
    (tmp_path / "ok.avsc").write_text(json.dumps(widened))
    (tmp_path / "bad.avsc").write_text(json.dumps(narrowed))
    ok = cli(s, "schemas", "check", "segment", str(tmp_path / "ok.avsc"))
    assert ok.returncode == 0 and "compatible with" in ok.stdout, ok.stderr
    bad = cli(s, "schemas", "check", "segment", str(tmp_path / "bad.avsc"))
    assert bad.returncode == 1 and f"is not compatible with {Topics(s).segments}-value" in bad.stderr, bad.stderr
    wrong = cli(s, "schemas", "check", "segments", str(tmp_path / "ok.avsc"))
    assert wrong.returncode == 2 and "KIND: 'segments'" in wrong.stderr


def test_the_registry_unreachable_is_one_sentence_within_the_bound(tmp_path):
    s = Settings(
        kafka_bootstrap="127.0.0.1:9",
        schema_registry_url=f"http://127.0.0.1:{free_port()}",
        schema_registry_timeout_seconds=2,
    )
    down = cli(s, "schemas", "register")
    assert down.returncode == 1 and "did not answer" in down.stderr and "Traceback" not in down.stderr
    unset = cli(Settings(kafka_bootstrap="127.0.0.1:9"), "schemas", "register")
    assert unset.returncode == 2 and "CDP_SCHEMA_REGISTRY_URL is not set" in unset.stderr
    (tmp_path / "auth").write_text("no-colon-here")
    bad = cli(s.model_copy(update={"schema_registry_basic_auth_file": tmp_path / "auth"}), "schemas", "register")
    assert bad.returncode == 2 and "CDP_SCHEMA_REGISTRY_BASIC_AUTH_FILE: expected" in bad.stderr, bad.stderr
    assert "no-colon-here" not in bad.stderr and "Traceback" not in bad.stderr
