"""The Helm chart as Kubernetes would receive it: ``helm template`` with the
real helm binary (built by ``./dev setup`` into ``.tools/bin``), parsed into
plain dicts, and the pods' containers turned into local processes."""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "cdp-triggers"
HELM = ROOT / ".tools" / "bin" / "helm"
MONITORING_APIS = ["monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"]
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run './dev setup' (it builds helm with 'go install')", pytrace=False)
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)


class RenderError(Exception):
    pass


_packaged: list[Path] = []


def packaged() -> Path:
    """The chart as released: ``helm package`` (which copies the files the chart links to from the repository's
    dashboards and rules), made once per test run. The tests render and lint this, not the folder."""
    if not _packaged:
        import atexit
        import shutil
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="cdp-chart-"))
        atexit.register(shutil.rmtree, out, True)
        done = helm("package", str(CHART), "--destination", str(out))
        assert done.returncode == 0, done.stderr
        [tgz] = out.glob("cdp-triggers-*.tgz")
        _packaged.append(tgz)
    return _packaged[0]


def render(
    values: list[Path] | None = None, sets: dict[str, Any] | None = None, api_versions: list[str] | None = None
) -> list[dict[str, Any]]:
    """The packaged chart's manifests for these values (RenderError with helm's message when it refuses them)."""
    args = ["template", "rel", str(packaged())]
    for path in values or []:
        args += ["-f", str(path)]
    for key, value in (sets or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    for api in api_versions or []:
        args += ["--api-versions", api]
    done = helm(*args)
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def find(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if d["kind"] == kind
        and (component is None or d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component)
    ]


def one(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, component)
    assert len(found) == 1, f"{len(found)} {kind} of {component}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def dockerfile_entrypoint() -> list[str]:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENTRYPOINT"):
            return list(yaml.safe_load(line.removeprefix("ENTRYPOINT").strip()))
    raise AssertionError("the Dockerfile has no ENTRYPOINT")


@dataclass
class Pod:
    """A rendered pod's container as a local process: its command, and the environment Kubernetes would give it
    (ConfigMaps and Secrets resolved, the pod's name from the downward API), with mounted files and the volume
    moved under ``root`` and the listening addresses on loopback."""

    name: str
    command: list[str]
    env: dict[str, str]
    ports: dict[str, int]
    probes: dict[str, dict[str, Any]]

    def describe(self) -> str:
        return f"{self.name}: {shlex.join(self.command)}"


def pod(docs: list[dict[str, Any]], workload: dict[str, Any], name: str, root: Path, ports: dict[str, int]) -> Pod:
    """``ports``: the container port's name -> the free local port that stands for it."""
    spec = workload["spec"]["template"]["spec"]
    c = container(workload)
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update({k: str(v) for k, v in by_name[("ConfigMap", ref)]["data"].items()})
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, var
            env[var["name"]] = name
    # Mounted volumes: the files a container would see, written under root at the same paths; a path into a
    # mount, in the environment or in a mounted file (the routes name their secret files), moves with it.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = c.get("volumeMounts", [])
    moved = {m["mountPath"]: root / name / m["mountPath"].lstrip("/") for m in mounts}

    # One pass, longest mount first, and only where a path starts: /tmp must not match inside a moved path.
    pattern = re.compile(r"(?<![\w/.-])(" + "|".join(map(re.escape, sorted(moved, key=len, reverse=True))) + ")/")

    def local_paths(text: str) -> str:
        return pattern.sub(lambda m: f"{moved[m.group(1)]}/", text) if moved else text

    for mount in mounts:
        local = moved[mount["mountPath"]]
        local.mkdir(parents=True, exist_ok=True)
        volume = volumes.get(mount["name"])
        if volume is None:  # a volumeClaimTemplate: the pod's own state volume
            continue
        if "secret" in volume:
            secret = by_name[("Secret", volume["secret"]["secretName"])]
            data = {k: v.encode() for k, v in secret.get("stringData", {}).items()}
            data |= {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
            items = volume["secret"].get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                (local / item["path"]).write_bytes(data[item["key"]])
        elif "configMap" in volume:
            for key, text in by_name[("ConfigMap", volume["configMap"]["name"])]["data"].items():
                (local / key).write_text(local_paths(text))
    env = {key: str(moved[value]) if value in moved else local_paths(value) for key, value in env.items()}
    for key in ("CDP_METRICS_HOST", "CDP_API_HOST"):
        if key in env:
            env[key] = "127.0.0.1"  # the test's servers stay on loopback
    declared = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for key, value in list(env.items()):
        for port_name, container_port in declared.items():
            if key in ("CDP_METRICS_PORT", "CDP_API_PORT") and value == str(container_port):
                env[key] = str(ports[port_name])
    probes: dict[str, dict[str, Any]] = {
        key: c[key] for key in ("startupProbe", "livenessProbe", "readinessProbe") if key in c
    }
    return Pod(name, [*dockerfile_entrypoint(), *c.get("args", [])], env, {k: ports[k] for k in declared}, probes)
