"""docker-compose.yml cannot run here (no Docker engine), so it is validated:
Compose's own schema check (Debian's docker-compose, which needs no engine),
and the facts it relies on in this repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.mark.subprocess
def test_compose_schema_is_valid():
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is installed by './dev test' (Debian package docker-compose)"
    proc = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_images_are_pinned():
    for name, service in compose()["services"].items():
        if "image" in service:
            assert ":" in service["image"] and not service["image"].endswith(":latest"), name


def test_kafka_has_a_healthcheck_and_the_worker_waits_for_it():
    services = compose()["services"]
    assert "healthcheck" in services["kafka"]
    assert services["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_worker_and_dispatcher_environment_use_real_settings():
    fields = {f"CDP_{name.upper()}" for name in Settings.model_fields}
    for service in ("worker", "dispatcher"):
        for var in compose()["services"][service]["environment"]:
            assert var in fields or not var.startswith("CDP_"), f"{service}: {var} is not a setting"


def test_dispatcher_gets_every_secret_the_example_routes_read_from_the_environment():
    routes = yaml.safe_load((ROOT / "examples/routes.yaml").read_text())
    wanted = {ref["env"] for r in routes["receivers"] for ref in _secret_refs(r) if "env" in ref}
    assert wanted <= set(compose()["services"]["dispatcher"]["environment"])


def _secret_refs(node):
    if isinstance(node, dict):
        if set(node) <= {"env", "file"} and node:
            yield node
        for value in node.values():
            yield from _secret_refs(value)


def test_mounted_paths_exist_and_named_volumes_are_declared():
    declared = set(compose().get("volumes") or {})
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} mounts the undeclared volume {source}"
    assert (ROOT / "Dockerfile").exists()


def test_grafana_datasource_uid_is_fixed():
    provisioned = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    assert source["uid"] == "cdp-prometheus" and source["url"] == "http://prometheus:9090"


@pytest.mark.subprocess
def test_prometheus_config_passes_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by './dev test' (Debian package prometheus)"
    proc = subprocess.run(
        [promtool, "check", "config", str(ROOT / "prometheus/prometheus.yml")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
