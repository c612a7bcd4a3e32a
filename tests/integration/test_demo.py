"""The README's run command: the demo brings every trigger type and stops
cleanly on Ctrl-C, leaving no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from schemas.triggers import TriggerType

from ..kafka_helpers import env_for


def _demo(settings, tmp_path, *args: str) -> subprocess.Popen:
    env = {**env_for(settings), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "demo", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def test_demo_shows_every_trigger_type(settings, tmp_path):
    proc = _demo(settings, tmp_path, "--until-all", "--duration", "120")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-3000:]
    assert "joined consumer group" in out
    for trigger_type in TriggerType:
        assert trigger_type.short in out, f"{trigger_type.short} missing:\n{out[-3000:]}"
    assert "trigger types seen: 7 of 7" in out


def test_demo_stops_cleanly_on_sigint(settings, tmp_path):
    proc = _demo(settings, tmp_path)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "live trigger view" in line:
            break
    else:
        proc.kill()
        raise AssertionError("".join(lines))
    worker_pids = _workers_of(settings.app_id)
    assert worker_pids, "the demo's worker should be running"
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "worker stopped" in out
    time.sleep(0.5)
    assert _workers_of(settings.app_id) == []


def _workers_of(app_id: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = open(f"/proc/{entry}/environ", "rb").read()
            cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
        except OSError:
            continue
        if b"worker" in cmdline and f"CDP_APP_ID={app_id}".encode() in environ:
            pids.append(int(entry))
    return pids


def test_demo_stops_its_worker_on_sigterm_too(settings, tmp_path):
    proc = _demo(settings, tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "live trigger view" not in proc.stdout.readline():
        pass
    assert _workers_of(settings.app_id)
    proc.terminate()
    proc.communicate(timeout=60)
    time.sleep(0.5)
    assert _workers_of(settings.app_id) == []
