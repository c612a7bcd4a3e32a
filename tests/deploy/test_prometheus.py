"""The dashboards against real data: a worker on the real broker handles events
of every trigger type, a real Prometheus scrapes it, and every panel query of
both dashboards (Grafana variables replaced) must return data."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import builders as b
from tests.support.api import api_settings, start_api
from tests.support.dispatcher import dispatcher_settings, routes_file
from tests.support.kafka import free_port
from tests.support.metrics import wait_for_metric
from tests.support.receivers import HttpReceiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = {"$job": ".+", "$instance": ".+", "$__rate_interval": "30s", "$__range": "5m"}


def now_iso(offset: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat()


def live(doc: dict, offset: float) -> dict:
    return {**doc, "event_time": now_iso(offset)}


def drive_every_trigger_type(kafka, worker) -> None:
    topics = worker.topics
    kafka.produce_all(
        topics.subscriptions,
        [
            ("seg", b.subscription("seg", "segment", "vip", 100)),
            ("mea", b.subscription("mea", "measure", "ltv", 5.5)),
        ],
    )
    wait_for_metric(worker, "cdp_triggers_subscriptions_active 2.0")
    kafka.produce_all(
        topics.segments, [("vip", live(b.segment("vip", n, 0), i * 0.01 - 1)) for i, n in enumerate([10, 150])]
    )
    kafka.produce_all(
        topics.measures, [("ltv", live(b.measure("ltv", v, 0), i * 0.01 - 1)) for i, v in enumerate([1.0, 9.0])]
    )
    kafka.produce_all(
        topics.datasources,
        [
            ("crm", live(b.datasource("crm", "started", 0), -1)),
            ("crm", live(b.datasource("crm", "failed", 0, will_retry=True), -0.9)),
            ("crm", live(b.datasource("crm", "succeeded", 0), -0.8)),
            ("web", live(b.datasource("web", "failed", 0), -0.7)),
            ("web", live(b.datasource("web", "failed", 0), -5)),  # stale
        ],
    )
    tasks = [("unification", "map"), ("unification", "match"), ("unification", "merge")]
    run = [live(b.run_started("r1", tasks, 0), -1)] + [live(b.task("r1", k, n, "succeeded", 0), -0.5) for k, n in tasks]
    run.append(live(b.run_started("stuck", [("segment", "vip")], 0), -1))
    kafka.produce_all(topics.runs, [(d["run_id"], d) for d in run])
    kafka.produce(topics.segments, "vip", b"{broken")
    kafka.flush()


def query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(urllib.request.urlopen(url, timeout=10).read())
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture
def prometheus(tmp_path):
    binary = shutil.which("prometheus")
    assert binary, "prometheus is installed by './dev test' (Debian package prometheus)"
    port = free_port()
    procs = []

    def start(*metrics_ports: int) -> int:
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{ROOT / 'prometheus/rules/cdp-triggers.rules.yml'}']\n"
            "scrape_configs:\n"
            "  - job_name: cdp-triggers-test\n"
            f"    static_configs: [{{targets: {[f'127.0.0.1:{p}' for p in metrics_ports]}}}]\n"
        )
        with open(tmp_path / "prometheus.log", "wb") as log:  # the child keeps its own descriptor
            procs.append(
                subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2)
                return port
            except OSError:
                time.sleep(0.3)
        raise AssertionError((tmp_path / "prometheus.log").read_text()[-3000:])

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(30)


def test_every_dashboard_query_returns_data(kafka, settings, worker_factory, prometheus, tmp_path):
    settings = settings.model_copy(
        update={
            "stall_after_seconds": 2.0,
            "stall_check_interval_seconds": 0.3,
            "continuity_check_interval_seconds": 0.5,
            "idle_partition_seconds": 0.5,
        }
    )
    settings = api_settings(settings)  # the dispatcher follows the API's hooks too
    worker = worker_factory(settings).start()
    http = HttpReceiver(lambda path, n: ("status", 400 if path == "/broken" else 202)).__enter__()
    _, env = routes_file(tmp_path, http, None)
    dispatcher = worker_factory(dispatcher_settings(settings), "dispatcher", "dispatcher", env).start()
    api_process, api = start_api(settings, tmp_path / "api.log")
    try:
        for call in (("GET", "/v1/trigger-types", api.key), ("GET", "/v1/hooks", "wrong")):
            api.call(call[0], call[1], key=call[2])
        check_dashboards(
            kafka,
            worker,
            dispatcher,
            prometheus(settings.metrics_port, dispatcher.settings.metrics_port, settings.api_port),
        )
    finally:
        api_process.stop()
        http.__exit__()


def check_dashboards(kafka, worker, dispatcher, port):
    # A first scrape of the worker before any event, so increases are measured from zero (the dispatcher and the
    # API export the same zero series, so only the worker's own count).
    of_worker = f'cdp_triggers_triggers_total{{instance="127.0.0.1:{worker.settings.metrics_port}"}}'
    wait_for(lambda: len(query(port, of_worker)) == 7, 30, "a first scrape of the worker")
    drive_every_trigger_type(kafka, worker)
    assert len(kafka.read(worker.topics.actions, until=7, timeout=60)) >= 7, worker.log()[-3000:]

    # Wait until Prometheus has scraped all seven trigger types, then a few more samples.
    wait_for(
        lambda: (
            len(query(port, "cdp_triggers_triggers_total > 0")) >= 7
            and query(port, 'sum(cdp_triggers_deliveries_total{outcome="delivered"}) >= 7')
        ),
        60,
        "every trigger type scraped, seven delivered",
    )
    # a few more samples after the last event, for the panels whose rate() needs them
    scrapes = lambda: int(query(port, "count_over_time(up[1h])")[0]["value"][1])  # noqa: E731
    seen = scrapes()
    wait_for(lambda: scrapes() >= seen + 3, 30, "three more scrapes")

    empty = []
    checked = 0
    for path in sorted((ROOT / "grafana/dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for var, value in VARIABLES.items():
                    expr = expr.replace(var, value)
                checked += 1
                if not query(port, expr):
                    empty.append(f"{path.stem} / {panel['title']}: {expr}")
    assert checked >= 20
    assert not empty, "panel queries without data:\n" + "\n".join(empty)

    # The data is the real thing, not only zero-initialised series.
    per_type = {
        r["metric"]["type"]: float(r["value"][1])
        for r in query(port, "sum by (type) (increase(cdp_triggers_triggers_total[5m]))")
    }
    assert len(per_type) == 7 and all(v > 0 for v in per_type.values()), per_type
    p99 = query(port, "histogram_quantile(0.99, sum by (le) (rate(cdp_triggers_detection_latency_seconds_bucket[5m])))")
    assert 0 < float(p99[0]["value"][1]) < 60, p99
    invalid = query(port, 'sum(cdp_triggers_input_invalid_total{reason="not_json"})')
    stale = query(port, 'sum(cdp_triggers_input_ignored_total{reason="stale"})')
    assert float(invalid[0]["value"][1]) == 1 and float(stale[0]["value"][1]) == 1

    delivered = query(port, 'sum(cdp_triggers_deliveries_total{outcome="delivered"})')
    rejected = query(port, 'sum(cdp_triggers_delivery_dead_lettered_total{reason="rejected"})')
    assert float(delivered[0]["value"][1]) >= 7 and float(rejected[0]["value"][1]) >= 1, dispatcher.log()[-2000:]

    rules = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=10).read())
    loaded = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
    import yaml

    written = yaml.safe_load((ROOT / "prometheus" / "rules" / "cdp-triggers.rules.yml").read_text())
    assert loaded == [r["alert"] for g in written["groups"] for r in g["rules"]], loaded
