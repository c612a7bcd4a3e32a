"""'Your own pipeline' (docs/own-pipeline.md), run as written: its bash blocks in order, against the dev broker, with
local HTTPS and SMTP servers standing in for Teams and the mail server. What cannot run here is replaced by what it
does: systemd starts the units' own ExecStart with their own Environment (each unit checked by systemd-analyze
verify first), and no system account is made. A page that drifts from the code fails here."""

from __future__ import annotations

import configparser
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from devtools.processes import free_port
from streams.settings import Settings
from tests.support.doc_blocks import code_blocks
from tests.support.kafka import new_tag
from tests.support.metrics import metrics_at, probe
from tests.support.receivers import HttpReceiver, SmtpReceiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "own-pipeline.md"
TEAMS_URL = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=xyz"
NOT_HERE = ("useradd ", "chown ", "systemctl ", "journalctl ")  # system changes a test does not make


def run(block: str, env: dict[str, str], cwd: Path) -> str:
    script = "\n".join(line for line in block.splitlines() if not line.startswith(NOT_HERE))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{script}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def unit(path: Path) -> tuple[list[str], dict[str, str]]:
    """A unit's command and environment, as systemd would start it."""
    text = path.read_text()
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    parsed.read_string(text)
    service = parsed["Service"]
    env = {}
    for line in text.splitlines():
        if line.startswith("Environment="):
            name, value = line.removeprefix("Environment=").split("=", 1)
            env[name] = value
    return service["ExecStart"].split(), env


def test_your_own_pipeline_works_as_the_page_says(broker, kafka, tmp_path):
    tag = new_tag()
    swaps = {
        "/opt/cdp-triggers": str(tmp_path / "opt"),
        "/etc/cdp-triggers": str(tmp_path / "etc"),
        "/var/lib/cdp-triggers": str(tmp_path / "data"),
        "kafka-1.example.com:9092": broker.bootstrap,
        "CDP_REPLICATION_FACTOR=3": "CDP_REPLICATION_FACTOR=1",  # one broker here
        "CDP_METRICS_PORT=9464": f"CDP_METRICS_PORT={(worker_port := free_port())}",
        "CDP_METRICS_PORT=9465": f"CDP_METRICS_PORT={(dispatcher_port := free_port())}",
        "--out-dir dist": f"--out-dir {tmp_path}/dist",
        "dist/": f"{tmp_path}/dist/",
    }
    with (
        HttpReceiver(tls_dir=tmp_path / "tls") as teams,
        SmtpReceiver(tls_dir=tmp_path / "tls", users={"cdp-triggers@example.com": "the-smtp-password"}) as smtp,
    ):
        swaps |= {TEAMS_URL: teams.url("/teams"), "host: smtp.example.com": "host: 127.0.0.1"}
        swaps |= {"port: 587": f"port: {smtp.port}"}

        def swap(text: str) -> str:
            for old, new in swaps.items():
                text = text.replace(old, new)
            return text

        env = {k: v for k, v in os.environ.items() if not k.startswith(("CDP_", "VIRTUAL_ENV", "PYTHONPATH"))}
        install, connect, topics, routes, systemd, subscriptions, event = code_blocks(PAGE, "bash")
        run(swap(install), env, ROOT)
        run(swap(connect), env, tmp_path)
        config = tmp_path / "etc" / "cdp.env"
        with config.open("a") as f:  # this test's own names on the shared dev broker
            f.write(f"CDP_TOPIC_PREFIX=t-{tag}.\nCDP_APP_ID=test-{tag}\n")
        env["CDP_CONFIG_FILE"] = str(config)  # the page exports it in its own shell
        assert "created" in run(swap(topics), env, tmp_path)
        run(swap(routes), env, tmp_path)

        processes = []
        try:
            for name in re.findall(r"deploy/systemd/([\w-]+\.service)", systemd):
                path = tmp_path / name
                path.write_text(swap((ROOT / "deploy" / "systemd" / name).read_text()))
                verified = subprocess.run(
                    ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
                )
                assert verified.returncode == 0, verified.stderr
                command, unit_env = unit(path)
                # the receivers' CA, as a machine whose trust store holds a private CA
                process_env = {**env, **unit_env, "SSL_CERT_FILE": str(teams.ca_file)}
                log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 -- the process writes it until it stops
                processes.append((name, subprocess.Popen(command, env=process_env, stdout=log, stderr=log), log))
            assert [n for n, _, _ in processes] == ["cdp-triggers-worker.service", "cdp-triggers-dispatcher.service"]
            for (name, process, _), port in zip(processes, (worker_port, dispatcher_port), strict=True):
                wait_for(
                    lambda p=process, port=port: ready(p, port), 120, f"{name} ready", lambda n=name: tail(tmp_path, n)
                )

            run(swap(subscriptions), env, tmp_path)
            # a person types the next command some seconds later; the test waits for the worker to have the rule
            wait_for(lambda: "cdp_triggers_subscriptions_active 1.0" in metrics_at(worker_port), 60, "the rule")
            shown = run(swap(event), env, tmp_path)
            assert "segment.threshold.crossed" in shown and "segment/vip" in shown, shown

            [card] = wait_for(
                lambda: teams.on("/teams"),
                60,
                "the Teams card",
                lambda: tail(tmp_path, "cdp-triggers-dispatcher.service"),
            )
            assert b"VIP" in card.body and b"AdaptiveCard" in card.body
            [mail] = wait_for(
                lambda: smtp.mails, 60, "the email", lambda: tail(tmp_path, "cdp-triggers-dispatcher.service")
            )
            assert mail.recipients == ["ann@example.com"] and mail.login == "cdp-triggers@example.com"
        finally:
            for name, process, log in processes:
                process.send_signal(signal.SIGTERM)
                code = process.wait(60)
                log.close()
                assert code == 0, f"{name} exited {code}\n{tail(tmp_path, name)}"


def ready(process: subprocess.Popen, port: int) -> bool:
    assert process.poll() is None, f"exited with {process.returncode}"
    return probe(port, "/readyz") == 200


def tail(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]


def test_each_shipped_unit_is_one_the_page_installs_and_bounds_its_stop():
    page = PAGE.read_text()
    for path in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        text = path.read_text()
        assert "Environment=CDP_CONFIG_FILE=/etc/cdp-triggers/cdp.env" in text and "/etc/cdp-triggers/cdp.env" in page
        assert "ExecStart=/opt/cdp-triggers/bin/cdp-triggers " in text and "/opt/cdp-triggers" in page
        found = re.search(r"^TimeoutStopSec=(\d+)$", text, re.M)
        bound = Settings.model_fields["shutdown_timeout_seconds"].default
        assert found and int(found.group(1)) >= bound + 10, f"{path.name}: the process's own stop bound, plus 10 s"
