"""Dashboard JSON and alert rules, checked without a running Grafana:
structure here, promtool for the rules; tests/integration/test_prometheus.py
evaluates every panel query against a real Prometheus."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana/dashboards").glob("*.json"))
RULES = ROOT / "prometheus/rules"


def load_build():
    spec = importlib.util.spec_from_file_location("grafana_build", ROOT / "grafana/build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def panels(path: Path) -> list[dict]:
    return json.loads(path.read_text())["panels"]


def test_committed_json_is_what_build_py_makes():
    rendered = load_build().render()
    assert sorted(p.name for p in DASHBOARDS) == sorted(rendered), "run: uv run python grafana/build.py"
    for path in DASHBOARDS:
        assert path.read_text() == rendered[path.name], f"{path.name} is stale; run: uv run python grafana/build.py"


def test_uids_are_unique_and_stable():
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(set(uids)) == len(uids) == 3
    assert set(uids) == {"cdp-trigger-activity", "cdp-pipeline-health", "cdp-deliveries"}


def test_datasource_variable_defaults_to_the_provisioned_uid():
    provisioned = yaml.safe_load((ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS:
        variables = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == uid
        assert {"job", "instance"} <= set(variables)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_panel_is_complete(path):
    ids = [p["id"] for p in panels(path)]
    assert len(set(ids)) == len(ids)
    for panel in panels(path):
        name = panel.get("title")
        assert name, panel
        assert panel.get("description"), name
        assert panel["fieldConfig"]["defaults"].get("unit"), name
        assert panel["datasource"]["uid"] == "${datasource}", name
        assert panel["targets"], name
        for target in panel["targets"]:
            expr = target.get("expr", "")
            assert expr.strip(), name
            assert target["datasource"]["uid"] == "${datasource}", name
            for window in re.findall(r"\[([^\]]+)\]", expr):
                assert window in ("$__rate_interval", "$__range"), f"{name}: fixed window [{window}]"
            if "cdp_triggers_" in expr or expr.startswith("up"):
                assert 'job=~"$job"' in expr and 'instance=~"$instance"' in expr, f"{name}: no job/instance filter"


def test_provisioning_points_at_the_dashboard_folder():
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/cdp-triggers.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in mounts


def _promtool() -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is installed by './dev test' (Debian package prometheus)"
    return tool


@pytest.mark.subprocess
def test_alert_rules_pass_promtool_check():
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(RULES / "cdp-triggers.rules.yml")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.subprocess
def test_alert_rules_unit_tests_pass():
    proc = subprocess.run(
        [_promtool(), "test", "rules", "cdp-triggers.tests.yml"], cwd=RULES, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_a_unit_test():
    rules = yaml.safe_load((RULES / "cdp-triggers.rules.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "cdp-triggers.tests.yml").read_text())
    tested = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    assert alerts == tested
