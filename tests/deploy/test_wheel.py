"""The release: ``uv build`` makes a wheel and an sdist, and the wheel, installed with the locked dependencies into
a clean environment outside the repository, runs the pipeline. Nothing it needs may live only in the repository."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from devtools.image import version
from devtools.processes import env_for
from streams.topics import Topics
from tests.support import builders as b
from tests.support.kafka import test_settings as settings_for
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[2]


def uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    tool = shutil.which("uv")
    assert tool, "uv is installed by './dev' setup"
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv outside the repository with the wheel and the locked runtime dependencies; its bin directory."""
    tmp = tmp_path_factory.mktemp("release")
    uv("build", "--out-dir", str(tmp / "dist"))  # the sdist, then the wheel built from it: the sdist is complete
    locked = tmp / "requirements.txt"
    uv("export", "--frozen", "--no-dev", "--no-emit-project", "--quiet", "--output-file", str(locked))
    uv("venv", "--quiet", "--python", sys.executable, str(tmp / "venv"))
    python = str(tmp / "venv" / "bin" / "python")
    [wheel] = (tmp / "dist").glob("*.whl")
    uv("pip", "install", "--quiet", "--python", python, "--require-hashes", "-r", str(locked), cwd=tmp)
    uv("pip", "install", "--quiet", "--python", python, "--no-deps", str(wheel), cwd=tmp)
    return tmp / "venv" / "bin"


def test_the_wheel_and_sdist_hold_the_runtime_and_not_the_repository(installed):
    dist = installed.parent.parent / "dist"
    [wheel] = dist.glob(f"cdp_triggers-{version()}-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"streams", "schemas", f"cdp_triggers-{version()}.dist-info"}, tops
    for folder in ("schemas/json", "streams/api/static"):  # the published schemas, the docs page's assets
        files = {f"{folder}/{p.name}" for p in (ROOT / folder).iterdir() if p.is_file()}
        assert files and files <= set(names), files - set(names)
    [sdist] = dist.glob(f"cdp_triggers-{version()}.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    top = {m.split("/")[1] for m in members if "/" in m}
    expected = {"streams", "schemas", "README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "PKG-INFO"}
    assert top - {".gitignore"} == expected, top  # hatch adds the .gitignore it read


def clean_env(settings) -> dict[str, str]:
    """The settings' variables, without anything that would let the repository's code in."""
    return {k: v for k, v in env_for(settings).items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def test_the_installed_wheel_runs_a_trigger_end_to_end(installed, broker, kafka, tmp_path):
    cli = str(installed / "cdp-triggers")
    s = settings_for(broker.bootstrap, tmp_path)
    env = clean_env(s)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [cli, *args], cwd=tmp_path, env=env, input=stdin, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
        return done

    helped = run("--help").stdout
    assert "worker" in helped and "broker" not in helped  # the dev tools stay in the repository
    where = subprocess.run(
        [str(installed / "python"), "-c", "import streams; print(streams.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(installed.parent) in where.stdout and str(ROOT) not in where.stdout, where
    assert "created" in run("topics", "create").stdout

    subs = tmp_path / "subs.yaml"
    subs.write_text(json.dumps({"subscriptions": [b.subscription("vip-100", "segment", "vip", 100)]}))
    run("subscriptions", "apply", str(subs))  # before the worker: it loads the rules before it reads events
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 -- the child writes to it until it stops
    worker = subprocess.Popen([cli, "worker"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        lines = "\n".join(json.dumps(b.segment("vip", n, i)) for i, n in enumerate((90, 120)))
        run("publish", "segment", "-", stdin=lines)
        t = Topics(s)
        [fired] = wait_for(
            lambda: kafka.read(t.actions, until=1, timeout=5),
            120,
            "the trigger",
            lambda: (tmp_path / "worker.log").read_text(),
        )
        event = json.loads(fired.value())
        assert event["subject"] == "segment/vip" and event["data"]["value"] == 120, event
    finally:
        worker.send_signal(signal.SIGTERM)
        began = time.monotonic()
        code = worker.wait(60)
        log.close()
    assert code == 0 and time.monotonic() - began < 30, (tmp_path / "worker.log").read_text()[-3000:]
