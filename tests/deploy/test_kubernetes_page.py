"""The Kubernetes page's commands, checked: the Secrets it creates are the ones the rendered pods mount, with the
keys they read; its helm commands render the packaged chart; its acls commands run; its versions are the package's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devtools.image import version
from tests.support.doc_blocks import page_commands
from tests.support.helm import CHART, RenderError, packaged, render

pytestmark = pytest.mark.subprocess  # helm

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "kubernetes.md"


def commands(page: Path = PAGE) -> list[list[str]]:
    return page_commands(page)


def created_secrets() -> dict[str, set[str]]:
    secrets: dict[str, set[str]] = {}
    for words in commands():
        if words[:1] == ["kubectl"] and "secret" in words and "create" in words:
            name = words[words.index("generic") + 1]
            keys = {w.split("=", 2)[1] for w in words if w.startswith(("--from-file=", "--from-literal="))}
            secrets.setdefault(name, set()).update(keys)
    return secrets


def helm_commands(verb: str) -> list[list[str]]:
    return [w for w in commands() if w[:2] == ["helm", verb]]


def rendered(words: list[str]) -> list[dict]:
    """``helm install|upgrade`` as ``helm template`` of the packaged chart, with the page's values and sets (a
    ``--reuse-values`` upgrade reuses the install's values files)."""
    values, sets = [], {}
    args = iter(words[4:])
    for arg in args:
        if arg == "-f":
            values.append(ROOT / next(args))
        elif arg == "--set":
            key, value = next(args).split("=", 1)
            sets[key] = int(value) if value.isdigit() else value
        elif arg in ("--namespace", "-n", "--timeout"):
            next(args)
        elif arg == "--reuse-values":
            values += [ROOT / f for w in helm_commands("install") for i, f in enumerate(w) if w[i - 1] == "-f"]
    return render(values, sets)


def test_the_page_installs_the_package_this_repository_builds():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == version(), "the chart's appVersion is the package's version"
    assert packaged().name == f"cdp-triggers-{chart['version']}.tgz"
    assert ["helm", "package", "deploy/helm/cdp-triggers"] in commands()
    for words in helm_commands("install") + helm_commands("upgrade"):
        assert words[3] == packaged().name, words
    tags = [w.split(":")[-1] for words in commands() if words[:2] == ["podman", "build"] for w in words if ":" in w]
    assert tags == [version()]


def test_every_secret_a_rendered_pod_mounts_is_created_on_the_page_with_the_keys_it_reads():
    secrets = created_secrets()
    assert secrets, "the page creates no Secret"
    [install] = helm_commands("install")
    docs = rendered(install)
    mounted = 0
    for workload in docs:
        if workload["kind"] not in ("StatefulSet", "Deployment", "Job"):
            continue
        for volume in workload["spec"]["template"]["spec"]["volumes"]:
            if "secret" not in volume:
                continue
            name = volume["secret"]["secretName"]
            assert name in secrets, f"{workload['metadata']['name']} mounts {name}, which the page does not create"
            needed = {item["key"] for item in volume["secret"].get("items", [])}
            assert needed <= secrets[name], (name, needed - secrets[name])
            mounted += 1
    assert mounted >= 10
    # the receivers' files that the routes name are keys of the receivers' Secret
    routes = yaml.safe_load([d for d in docs if d["metadata"]["name"].endswith("-routes")][0]["data"]["routes.yaml"])
    named = set(re.findall(r"/etc/cdp-triggers/receivers/([\w.-]+)", yaml.safe_dump(routes)))
    assert named and named <= secrets["cdp-receivers"]


def test_every_helm_command_on_the_page_renders():
    upgrades = helm_commands("upgrade")
    assert len(helm_commands("install")) == 1 and len(upgrades) == 2
    for words in helm_commands("install") + upgrades:
        try:
            rendered(words)
        except RenderError as exc:
            raise AssertionError(f"{shlex.join(words)}\n{exc}") from None


def test_the_acls_commands_on_the_page_run():
    from streams.cli import app

    acls = [w for w in commands() if w[:2] == ["cdp-triggers", "acls"]]
    assert {w[2] for w in acls} == {"worker", "dispatcher", "api", "topics"}
    for words in acls:
        result = CliRunner().invoke(app, words[1:])
        assert result.exit_code == 0 and "kafka-acls.sh" in result.output, result.output


def test_the_readme_deploys_with_the_same_commands():
    readme = commands(ROOT / "README.md")
    assert ["helm", "package", "deploy/helm/cdp-triggers"] in readme
    [install] = [w for w in readme if w[:2] == ["helm", "install"]]
    assert install[3] == packaged().name
    docs = rendered(install)
    image = {
        c["image"] for d in docs if d["kind"] == "StatefulSet" for c in d["spec"]["template"]["spec"]["containers"]
    }
    pushed = [w[-1] for w in readme if w[:2] == ["podman", "push"]]
    assert image == set(pushed), (image, pushed)
