"""The dev broker tool itself, on its own port and home so the session broker
is untouched."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devtools.broker import DevBroker, api_versions_ok
from devtools.processes import free_port_block
from devtools.settings import load_broker_settings
from tests.support.kafka import ROOT, free_port

pytestmark = pytest.mark.subprocess


@pytest.mark.broker
def test_start_is_idempotent_status_tracks_and_stop_stops(broker, tmp_path):
    port = free_port_block(2)  # the controller listens on port + 1
    settings = load_broker_settings(port=port, home=tmp_path / "home")
    dev = DevBroker(settings)
    assert not dev.status().running

    first = dev.start()
    try:
        assert first.running and first.answering and api_versions_ok("127.0.0.1", port)
        again = dev.start()
        assert again.pid == first.pid  # no second JVM
        assert "Kafka Server started" in dev.log_tail(200)
    finally:
        assert dev.stop()
    assert not dev.status().running
    assert not api_versions_ok("127.0.0.1", port)
    assert dev.stop() is False


@pytest.mark.broker
def test_cli_status_exit_code_reflects_the_broker(broker, tmp_path):
    env_down = {"CDP_BROKER_PORT": str(free_port()), "CDP_BROKER_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "streams.cli", "broker", "status"]
    down = subprocess.run(cmd, env={**_base_env(), **env_down}, cwd=ROOT, capture_output=True, text=True)
    assert down.returncode == 3 and "stopped" in down.stdout
    up = subprocess.run(
        cmd, env={**_base_env(), "CDP_BROKER_PORT": str(broker.port)}, cwd=ROOT, capture_output=True, text=True
    )
    assert up.returncode == 0 and "ready" in up.stdout


def test_bad_config_fails_at_start_naming_the_field(tmp_path):
    cmd = [sys.executable, "-m", "streams.cli", "worker"]
    proc = subprocess.run(
        cmd, env={**_base_env(), "CDP_PARTITIONS": "zero"}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "CDP_PARTITIONS" in proc.stderr and "Traceback" not in proc.stderr


def test_worker_without_broker_says_so_with_a_hint(tmp_path):
    cmd = [sys.executable, "-m", "streams.cli", "worker"]
    env = {**_base_env(), "CDP_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "not reachable" in proc.stderr and "broker start" in proc.stderr


def _base_env():
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}


@pytest.mark.broker
def test_worker_metrics_port_in_use_is_a_clear_error(settings):
    import socket

    from tests.support.kafka import env_for

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {**env_for(settings), "CDP_METRICS_PORT": str(busy.getsockname()[1])}
        proc = subprocess.run(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert "CDP_METRICS_PORT" in proc.stderr and "Traceback" not in proc.stderr
