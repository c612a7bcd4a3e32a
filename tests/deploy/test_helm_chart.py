"""The Helm chart, rendered by the real helm for every ci/ values file: it lints, every manifest validates against
Kubernetes' own schemas, and what it says about the processes (ports, probes, ids, secrets, grace periods) is what
the processes do."""

from __future__ import annotations

import json
import subprocess

import kubernetes_validate
import pytest
import yaml

from streams.settings import Settings
from tests.support.helm import (
    CHART,
    CI_VALUES,
    MONITORING_APIS,
    RenderError,
    container,
    find,
    helm,
    one,
    packaged,
    render,
)

pytestmark = pytest.mark.subprocess

KUBERNETES = "1.30.0"  # the oldest version the chart supports that kubernetes-validate knows well
MINIMAL = CHART / "ci" / "minimal-values.yaml"
SECURED = CHART / "ci" / "secured-values.yaml"
MONITORING = CHART / "ci" / "monitoring-values.yaml"


def _refused(match: str, **sets) -> str:
    with pytest.raises(RenderError) as refused:
        render([MINIMAL], sets)
    assert match in str(refused.value), refused.value
    return str(refused.value)


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda p: p.stem)
def test_every_ci_values_file_lints_renders_and_validates_strictly(values):
    linted = helm("lint", "--strict", str(packaged()), "-f", str(values))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    docs = render([values], api_versions=MONITORING_APIS)
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked by the monitoring tests below
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    assert one(docs, "StatefulSet", "worker") and one(docs, "Deployment", "api")


def test_a_worker_takes_its_pod_name_as_its_static_member_id_and_keeps_its_volume():
    docs = render([MINIMAL])
    worker = one(docs, "StatefulSet", "worker")
    assert worker["spec"]["podManagementPolicy"] == "Parallel"
    env = {e["name"]: e for e in container(worker)["env"]}
    assert env["CDP_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    claim = worker["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # Helm does not own a StatefulSet's claims, so its keep annotation would promise nothing: Kubernetes' policy does
    assert "annotations" not in claim["metadata"]
    assert worker["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    dropped = one(render([MINIMAL], {"worker.persistence.keepOnUninstall": False}), "StatefulSet", "worker")
    assert dropped["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    config = one(docs, "ConfigMap", "config")["data"]
    mounts = {m["name"]: m["mountPath"] for m in container(worker)["volumeMounts"]}
    assert mounts["state"] == config["CDP_DATA_DIR"]


def test_the_probes_ask_the_ports_and_paths_the_processes_serve():
    docs = render([MINIMAL])
    config = one(docs, "ConfigMap", "config")["data"]
    for kind, component, setting in [
        ("StatefulSet", "worker", "CDP_METRICS_PORT"),
        ("Deployment", "dispatcher", "CDP_METRICS_PORT"),
        ("Deployment", "api", "CDP_API_PORT"),
    ]:
        c = container(one(docs, kind, component))
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in [("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")]:
            get = c[probe]["httpGet"]
            assert get["path"] == path, (component, probe)
            assert str(ports[get["port"]]) == config[setting], (component, probe)
    assert config["CDP_METRICS_HOST"] == config["CDP_API_HOST"] == "0.0.0.0"


def test_the_startup_probe_covers_a_boot_whose_kafka_waits_all_run_out():
    """Until the port listens a process checks Kafka and its topics, each wait bounded by the Kafka timeout."""
    docs = render([MINIMAL])
    probe = container(one(docs, "StatefulSet", "worker"))["startupProbe"]
    budget = probe["periodSeconds"] * probe["failureThreshold"]
    assert budget >= 3 * Settings.model_fields["kafka_timeout_seconds"].default + 60


def test_grace_periods_cover_the_shutdown_bound_and_a_shorter_one_is_refused():
    docs = render([MINIMAL])
    bound = float(one(docs, "ConfigMap", "config")["data"]["CDP_SHUTDOWN_TIMEOUT_SECONDS"])
    assert bound == Settings.model_fields["shutdown_timeout_seconds"].default
    for kind, component in [("StatefulSet", "worker"), ("Deployment", "dispatcher")]:
        assert one(docs, kind, component)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= bound + 10
    _refused("would SIGKILL the worker mid-shutdown", **{"worker.terminationGracePeriodSeconds": 30})
    # the API: its preStop pause, then uvicorn's bounded graceful stop, inside the grace period
    api = one(docs, "Deployment", "api")["spec"]["template"]["spec"]
    pause = int(api["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pause > 0 and api["terminationGracePeriodSeconds"] >= pause + bound + 10
    _refused("would SIGKILL the api mid-shutdown", **{"api.terminationGracePeriodSeconds": 35})


def test_more_workers_than_partitions_is_refused():
    _refused("worker.replicas (5) exceeds kafka.partitions (4)", **{"worker.replicas": 5})
    assert one(render([MINIMAL], {"worker.replicas": 4}), "StatefulSet", "worker")["spec"]["replicas"] == 4


WORKLOADS = [("StatefulSet", "worker"), ("Deployment", "dispatcher"), ("Deployment", "api"), ("Job", "topics")]


def mounted_secrets(workload: dict) -> dict[str, str]:
    """Volume name -> the Secret it mounts."""
    return {
        v["name"]: v["secret"]["secretName"] for v in workload["spec"]["template"]["spec"]["volumes"] if "secret" in v
    }


def test_each_component_connects_as_its_own_principal_from_its_own_secret_and_carries_no_other_credential():
    docs = render([SECURED])
    assert not find(docs, "Secret"), "every credential is an existingSecret here: the chart makes none"
    config = one(docs, "ConfigMap", "config")["data"]
    assert config["CDP_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["CDP_KAFKA_SSL_CA_FILE"] == "/etc/cdp-triggers/kafka-ca/ca.crt"
    assert not any(k.startswith(("CDP_KAFKA_SASL_USERNAME", "CDP_KAFKA_SASL_PASSWORD", "CDP_HOOK")) for k in config)
    signs_hooks = {"dispatcher", "api"}  # the only ones that read the hook signing key
    for kind, component in WORKLOADS:
        workload = one(docs, kind, component)
        principal = "admin" if component == "topics" else component  # as secured-values.yaml names them
        env = {e["name"]: e.get("value") for e in container(workload)["env"]}
        assert env["CDP_KAFKA_SASL_USERNAME"] == f"cdp-{principal}"
        assert env["CDP_KAFKA_SASL_PASSWORD_FILE"] == "/etc/cdp-triggers/kafka-principal/password"
        assert env["CDP_KAFKA_SSL_CERT_FILE"] == "/etc/cdp-triggers/kafka-principal/tls.crt"
        expected = {"kafka-ca": "cdp-kafka-ca", "kafka-principal": f"cdp-kafka-{principal}"}
        if component in signs_hooks:
            expected["hook-signing-key"] = "cdp-hook-signing-key"
            assert env["CDP_HOOK_SIGNING_KEY_FILE"] == "/etc/cdp-triggers/hook-signing-key/key"
        else:
            assert "CDP_HOOK_SIGNING_KEY_FILE" not in env
        if component == "dispatcher":
            expected["receivers"] = "cdp-receivers"
        if component == "worker":  # the only reader of the Schema Registry
            expected |= {"schema-registry": "cdp-schema-registry", "schema-registry-ca": "cdp-schema-registry-ca"}
            assert env["CDP_SCHEMA_REGISTRY_BASIC_AUTH_FILE"] == "/etc/cdp-triggers/schema-registry/basic-auth"
            assert env["CDP_SCHEMA_REGISTRY_CA_FILE"] == "/etc/cdp-triggers/schema-registry-ca/ca.crt"
        else:
            assert not any(name.startswith("CDP_SCHEMA_REGISTRY") for name in env)
        assert mounted_secrets(workload) == expected, component


def test_principals_given_as_values_get_a_secret_each_and_a_missing_one_is_refused_naming_it():
    password = "s3cr3t-sasl-password"
    sasl = {"kafka.securityProtocol": "SASL_SSL"}
    principals = {c: {"username": f"u-{c}", "password": f"{password}-{c}"} for _, c in WORKLOADS}
    docs = render([MINIMAL], {**sasl, "kafka.principals": principals})
    made = {s["metadata"]["name"]: s["stringData"] for s in find(docs, "Secret") if "password" in s["stringData"]}
    assert made == {f"rel-cdp-triggers-kafka-{c}": {"password": f"{password}-{c}"} for c in principals}
    assert password not in json.dumps([d for d in docs if d["kind"] != "Secret"])
    no_api = {**principals, "api": {"username": "u-api"}}
    _refused("kafka.principals.api.password or .existingSecret is required", **sasl, **{"kafka.principals": no_api})
    no_user = {**principals, "worker": {"password": "x"}}
    _refused("kafka.principals.worker.username is required", **sasl, **{"kafka.principals": no_user})
    # a component that is off needs no principal
    off = {k: v for k, v in principals.items() if k != "topics"}
    assert not find(render([MINIMAL], {**sasl, "kafka.principals": off, "topics.create": False}), "Job")


def test_every_setting_the_chart_sets_is_refused_in_config_so_none_renders_twice():
    rendered: set[str] = set()
    for values in CI_VALUES:
        docs = render([values], api_versions=MONITORING_APIS)
        rendered |= set(one(docs, "ConfigMap", "config")["data"])
        for workload in find(docs, "StatefulSet") + find(docs, "Deployment") + find(docs, "Job"):
            rendered |= {e["name"] for e in container(workload).get("env", [])}
    rendered -= set(yaml.safe_load((CHART / "ci" / "three-workers-values.yaml").read_text())["config"])
    assert {"CDP_SESSION_TIMEOUT_SECONDS", "CDP_KAFKA_SASL_USERNAME", "CDP_INSTANCE_ID"} <= rendered
    for name in sorted(rendered):
        _refused(f"config.{name}:", config={name: "1"})
    _refused("a secret does not belong in a ConfigMap", config={"CDP_KAFKA_SASL_PASSWORD": "x"})


def test_no_container_renders_an_empty_env():
    for values in CI_VALUES:
        for workload in render([values], api_versions=MONITORING_APIS):
            if workload["kind"] in ("StatefulSet", "Deployment", "Job"):
                c = container(workload)
                assert "env" not in c or c["env"], (values.stem, workload["metadata"]["name"])


def test_a_config_change_rolls_the_pods():
    def checksum(docs):
        return one(docs, "StatefulSet", "worker")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(render([MINIMAL])) != checksum(render([MINIMAL], {"config": {"CDP_LOG_LEVEL": "debug"}}))


def test_pods_run_as_non_root_on_a_read_only_root_with_nothing_but_their_volumes_writable():
    docs = render([MINIMAL])
    for workload in find(docs, "StatefulSet") + find(docs, "Deployment") + find(docs, "Job"):
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["seccompProfile"]
        c = container(workload)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert not c["securityContext"]["allowPrivilegeEscalation"]
        assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}
        assert spec["automountServiceAccountToken"] is False
    assert {p["spec"]["maxUnavailable"] for p in find(docs, "PodDisruptionBudget")} == {1}


def test_the_dockerfile_builds_what_the_chart_runs():
    """What the chart assumes of the image, read from the Dockerfile (tests/deploy/test_image.py builds and runs
    it): the chart's args follow its ENTRYPOINT, its user is the chart's, and the paths the processes write are the
    chart's volumes."""
    from tests.support.helm import ROOT, dockerfile_entrypoint

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile_entrypoint() == ["cdp-triggers"]
    assert "USER 65534:65534" in dockerfile
    docs = render([MINIMAL])
    assert one(docs, "StatefulSet", "worker")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65534
    assert "CDP_DATA_DIR=/var/lib/cdp-triggers" in dockerfile
    assert one(docs, "ConfigMap", "config")["data"]["CDP_DATA_DIR"] == "/var/lib/cdp-triggers"
    commands = {container(w)["args"][0] for w in find(docs, "StatefulSet") + find(docs, "Deployment")}
    assert commands == {"worker", "dispatcher", "api"}
    assert container(one(docs, "Job", "topics"))["args"] == ["topics", "create"]


def test_monitoring_needs_the_operators_apis_and_says_which_flag_to_pass():
    with pytest.raises(RenderError, match="--api-versions monitoring.coreos.com/v1/PodMonitor"):
        render([MONITORING])
    docs = render([MONITORING], api_versions=MONITORING_APIS)
    monitor = one(docs, "PodMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["jobLabel"] == "cdp-triggers.io/job"
    jobs = {
        container(w)["args"][0]: w["spec"]["template"]["metadata"]["labels"]["cdp-triggers.io/job"]
        for w in find(docs, "StatefulSet") + find(docs, "Deployment")
    }
    # The job names the alert rules and dashboards select on, as prometheus/prometheus.yml names them.
    assert jobs == {"worker": "cdp-triggers", "dispatcher": "cdp-triggers-dispatcher", "api": "cdp-triggers-api"}
    ports = {p["name"] for w in find(docs, "StatefulSet") + find(docs, "Deployment") for p in container(w)["ports"]}
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == ports
    dashboards = [d for d in find(docs, "ConfigMap") if d["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(dashboards) == len(list((CHART.parents[2] / "grafana" / "dashboards").glob("*.json")))


def test_the_rendered_prometheus_rule_is_our_alert_rules_and_promtool_accepts_it(tmp_path):
    docs = render([MONITORING], api_versions=MONITORING_APIS)
    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    source = yaml.safe_load((CHART.parents[2] / "prometheus" / "rules" / "cdp-triggers.rules.yml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rule["spec"]))
    checked = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_schema_registry_given_as_values_gets_its_secrets_and_the_workers_reach_it():
    auth, ca = "reader:s3cr3t-registry", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    registry = {"url": "https://registry.example:8443", "timeoutSeconds": 5, "basicAuth": auth, "ca": ca}
    docs = render([MINIMAL], {"schemaRegistry": registry, "networkPolicy.enabled": True})
    config = one(docs, "ConfigMap", "config")["data"]
    assert config["CDP_SCHEMA_REGISTRY_URL"] == "https://registry.example:8443"
    assert config["CDP_SCHEMA_REGISTRY_TIMEOUT_SECONDS"] == "5"
    made = {s["metadata"]["name"]: s["stringData"] for s in find(docs, "Secret")}
    assert made["rel-cdp-triggers-schema-registry"] == {"basic-auth": auth}
    assert made["rel-cdp-triggers-schema-registry-ca"] == {"ca.crt": ca}
    assert "s3cr3t-registry" not in json.dumps([d for d in docs if d["kind"] != "Secret"])
    worker = one(docs, "StatefulSet", "worker")
    assert mounted_secrets(worker)["schema-registry"] == "rel-cdp-triggers-schema-registry"
    policies = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in find(docs, "NetworkPolicy")}
    assert {"port": 8081, "protocol": "TCP"} in policies["worker"]["spec"]["egress"][2]["ports"]
    _refused("schemaRegistry.basicAuth: expected user:password", schemaRegistry={**registry, "basicAuth": "nocolon"})
    plain = render([MINIMAL])
    assert not any(k.startswith("CDP_SCHEMA_REGISTRY") for k in one(plain, "ConfigMap", "config")["data"])


def test_values_that_do_not_fit_the_schema_are_refused_naming_the_field():
    _refused("workr", workr={"replicas": 2})
    _refused("securityProtocol", **{"kafka.securityProtocol": "SASL_TLS"})
    with pytest.raises(RenderError, match="kafka.bootstrap is required"):
        render()


def test_the_network_policy_lets_in_only_the_probes_and_scrapes_and_out_only_dns_kafka_registry_and_deliveries():
    docs = render([SECURED])
    policies = {p["metadata"]["labels"]["app.kubernetes.io/component"]: p for p in find(docs, "NetworkPolicy")}
    assert set(policies) == {"worker", "dispatcher", "api"}
    worker = policies["worker"]["spec"]
    assert [r["ports"] for r in worker["ingress"]] == [[{"port": "metrics", "protocol": "TCP"}]]
    assert len(worker["egress"]) == 3  # DNS, Kafka and the Schema Registry: a worker delivers nothing itself
    assert worker["egress"][1]["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kafka"}}}
    ]
    assert worker["egress"][2] == {
        "ports": [{"port": 8443, "protocol": "TCP"}],
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "schemas"}}}],
    }
    assert len(policies["dispatcher"]["spec"]["egress"]) == 3
