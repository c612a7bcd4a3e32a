"""The repository's image, built with podman and run as the chart runs it: read-only root, uid 65534, every
capability dropped, no new privileges, a tmpfs /tmp and a volume for data. The worker, the dispatcher and the
API start, answer their probes, carry a trigger from the dev broker to an HTTPS receiver, and stop on SIGTERM
with exit 0; the worker service of docker-compose.yml runs from the same image."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml

from devtools.image import RUN_LIMITS, ImageError, build, podman, revision, version
from devtools.processes import free_port
from streams.settings import Settings
from tests.support import builders as b
from tests.support.api import api_settings
from tests.support.dispatcher import dispatcher_settings
from tests.support.metrics import metrics_at, probe
from tests.support.receivers import HttpReceiver
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.subprocess, pytest.mark.image]

ROOT = Path(__file__).resolve().parents[2]
GRACE = 30  # seconds: the chart's terminationGracePeriodSeconds for every component
DATA = "/var/lib/cdp-triggers"


@pytest.fixture(scope="module")
def image() -> str:
    try:
        return build(lambda line: print(f"image: {line}"))
    except ImageError as exc:
        pytest.fail(f"the image did not build: {exc}")


class Container:
    """One ``podman run -d``, stopped and removed by the test that started it."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        podman("run", "--detach", "--name", name, *args)

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        return podman("inspect", "--format", "{{.State.Running}}", self.name).stdout.strip() == "true"

    def wait_ready(self, port: int, timeout: float = 120) -> None:
        """Until ``/readyz`` answers 200; a container that ended fails at once, with its log."""

        def ready() -> bool:
            assert self.running(), f"{self.name} ended:\n{self.logs()[-3000:]}"
            return probe(port, "/readyz") == 200

        wait_for(ready, timeout, f"{self.name} ready", self.logs)

    def stop(self) -> tuple[int, float]:
        """SIGTERM, then SIGKILL after the grace period; the exit code and the seconds it took."""
        began = time.monotonic()
        podman("stop", "--time", str(GRACE), self.name, timeout=GRACE + 30)
        took = time.monotonic() - began
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout), took

    def remove(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


def as_the_chart(image: str, settings: Settings, data: Path, *, mounts: dict[Path, str] | None = None) -> list[str]:
    """``podman run`` arguments for ``settings``, with the pod security the chart sets. The host's network, so the
    dev broker on 127.0.0.1 is reachable, and every port binds to loopback as the tests' servers do."""
    env = {k: v for k, v in environment(settings).items()}
    env.update({"CDP_DATA_DIR": DATA, "CDP_METRICS_HOST": "127.0.0.1", "CDP_API_HOST": "127.0.0.1"})
    args = [
        "--network=host",
        "--read-only",
        "--user=65534:65534",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
        "--tmpfs=/tmp:rw,size=64m",
        *RUN_LIMITS,
        f"--volume={data}:{DATA}",
    ]
    for source, target in (mounts or {}).items():
        args.append(f"--volume={source}:{target}:ro")
    for name, value in env.items():
        args.append(f"--env={name}={value}")
    return [*args, image]


def environment(settings: Settings) -> dict[str, str]:
    """The CDP_ variables a settings object stands for (no other variable of this machine's)."""
    from devtools.processes import env_for

    return {k: v for k, v in env_for(settings).items() if k.startswith("CDP_")}


def data_volume(tmp_path: Path, name: str) -> Path:
    """A directory for a container's data, owned by uid 65534 as a pod's fsGroup makes its volume."""
    path = tmp_path / name
    path.mkdir()
    os.chown(path, 65534, 65534)
    return path


def test_the_image_holds_the_engine_and_nothing_to_build_with(image):
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", image).stdout)
    assert labels["org.opencontainers.image.version"] == version()
    assert labels["org.opencontainers.image.revision"] == revision()
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip() == "65534:65534"
    check = """
import importlib.util as u, json, os, pathlib, shutil, streams
package = pathlib.Path(streams.__file__).parent
print(json.dumps({
    "uid": os.getuid(),
    "missing": [m for m in ("pip", "setuptools", "devtools", "tests", "uv") if u.find_spec(m) is None],
    "tools": [t for t in ("uv", "pip", "pip3", "gcc", "cc") if shutil.which(t)],
    "package": str(package),
    "compiled": len(list((package / "__pycache__").glob("settings.*.pyc"))),
    "src": os.path.exists("/src"),
    "data": [os.stat("/var/lib/cdp-triggers").st_uid, oct(os.stat("/var/lib/cdp-triggers").st_mode & 0o777)],
}))
"""
    done = podman(
        "run", "--rm", *RUN_LIMITS, "--read-only", "--network=none", "--entrypoint", "python3.11", image, "-c", check
    )
    found = json.loads(done.stdout)
    assert found["uid"] == 65534
    assert found["missing"] == ["pip", "setuptools", "devtools", "tests", "uv"], found
    assert found["tools"] == [], found
    assert found["package"].startswith("/opt/cdp-triggers/lib/") and found["compiled"] == 1, found
    assert not found["src"] and found["data"] == [65534, "0o750"], found
    helped = podman("run", "--rm", *RUN_LIMITS, "--read-only", "--network=none", image, "--help")
    assert "worker" in helped.stdout and "dispatcher" in helped.stdout and "broker" not in helped.stdout


def test_a_data_directory_it_cannot_write_is_one_sentence_and_exit_2(image, settings, tmp_path):
    read_only = data_volume(tmp_path, "data")
    args = as_the_chart(image, settings, read_only)
    args[args.index(f"--volume={read_only}:{DATA}")] = f"--volume={read_only}:{DATA}:ro"
    done = podman("run", "--rm", *args, "worker", check=False, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.strip()]
    assert f"CDP_DATA_DIR: cannot write {DATA}/" in line and "as uid 65534 (Read-only file system)" in line, line


def test_worker_dispatcher_and_api_run_as_the_chart_runs_them_and_deliver_a_trigger(image, kafka, settings, tmp_path):
    s = api_settings(settings)
    with HttpReceiver(lambda path, n: ("status", 202), tls_dir=tmp_path / "tls") as callback:
        routes = tmp_path / "routes.yaml"
        routes.write_text(
            yaml.safe_dump(
                {
                    "receivers": [{"name": "hook", "webhook": {"url": {"env": "HOOK_URL"}}}],
                    "route": {"receiver": "hook"},
                }
            )
        )
        d = dispatcher_settings(s).model_copy(update={"routes_file": Path("/etc/cdp-triggers/routes.yaml")})
        tag = s.app_id.removeprefix("test-")
        started: list[Container] = []
        try:
            worker = Container(f"cdp-worker-{tag}", [*as_the_chart(image, s, data_volume(tmp_path, "w")), "worker"])
            started.append(worker)
            dispatcher_args = as_the_chart(
                image,
                d,
                data_volume(tmp_path, "d"),
                mounts={routes: "/etc/cdp-triggers/routes.yaml", callback.ca_file: "/etc/cdp-triggers/ca.pem"},
            )
            # the receiver's CA, as an operator adds a private CA: OpenSSL's own variable
            dispatcher_args[:0] = [
                "--env=SSL_CERT_FILE=/etc/cdp-triggers/ca.pem",
                f"--env=HOOK_URL={callback.url('/hook')}",
            ]
            dispatcher = Container(f"cdp-dispatcher-{tag}", [*dispatcher_args, "dispatcher"])
            started.append(dispatcher)
            api = Container(f"cdp-api-{tag}", [*as_the_chart(image, s, data_volume(tmp_path, "a")), "api"])
            started.append(api)

            for c, port in ((worker, s.metrics_port), (dispatcher, d.metrics_port), (api, s.api_port)):
                c.wait_ready(port)
                assert probe(port, "/livez") == 200, c.logs()

            t = worker_topics(s)
            kafka.produce_all(t.subscriptions, [("vip-100", b.subscription("vip-100", "segment", "vip", 100))])
            wait_for(lambda: "cdp_triggers_subscriptions_active 1.0" in metrics_at(s.metrics_port), 60, "the rule")
            kafka.produce_all(t.segments, [("vip", b.segment("vip", n, i)) for i, n in enumerate((90, 120))])
            [fired] = [json.loads(m.value()) for m in kafka.read(t.actions, until=1, timeout=60)]
            assert fired["type"] == "io.cdptriggers.segment.threshold.crossed.v1", fired
            [delivered] = wait_for(lambda: callback.on("/hook"), 60, "the delivery", dispatcher.logs)
            assert json.loads(delivered.body)["id"] == fired["id"]

            for c in started:
                code, took = c.stop()
                assert code == 0 and took < GRACE, f"{c.name}: exit {code} after {took:.1f} s\n{c.logs()[-3000:]}"
                assert "Traceback" not in c.logs(), c.logs()[-3000:]
            assert any((tmp_path / "w").rglob("*")), "the worker wrote nothing to its data volume"
        finally:
            for c in started:
                c.remove()


def worker_topics(settings: Settings):
    from streams.topics import Topics

    return Topics(settings)


def test_the_compose_worker_service_runs_from_the_image(image, settings, tmp_path):
    """docker-compose.yml's worker: its command, environment and volumes, against the dev broker (the broker's
    address, ports and topic prefix are this test's; Compose's own variables take their defaults)."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    env = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in service["environment"].items()}
    port = free_port()
    env.update(
        {
            "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CDP_METRICS_HOST": "127.0.0.1",
            "CDP_METRICS_PORT": str(port),
            "CDP_TOPIC_PREFIX": settings.topic_prefix,
            "CDP_APP_ID": settings.app_id,
        }
    )
    volume = f"cdp-compose-{settings.app_id}"
    args = ["--network=host", *RUN_LIMITS]
    for mount in service.get("volumes", []):
        source, target = mount.split(":")[:2]
        assert not source.startswith("."), f"a bind mount of the repository in the worker service: {mount}"
        args.append(f"--volume={volume}:{target}")  # a named volume, as Compose makes it
    assert any(a.endswith(f":{DATA}") for a in args), "the worker service has no volume for its data"
    args += [f"--env={k}={v}" for k, v in env.items()]
    worker = Container(f"cdp-compose-{settings.app_id}", [*args, image, *service["command"]])
    try:
        worker.wait_ready(port)
        code, took = worker.stop()
        assert code == 0, worker.logs()[-3000:]
    finally:
        worker.remove()
        podman("volume", "rm", "--force", volume, check=False)
