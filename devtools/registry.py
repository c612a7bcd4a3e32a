"""A Schema Registry for development and tests: Apicurio Registry, fetched once from Maven Central (its 'all'
tar.gz, a complete Quarkus application), kept in memory, served on 127.0.0.1 with the Confluent-compatible API at
``/apis/ccompat/v7``. No Docker and no release download: like the dev broker, Java and Maven only."""

from __future__ import annotations

import shutil
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import jvm
from .settings import RegistrySettings

CCOMPAT = "/apis/ccompat/v7"


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    pid: int | None
    answering: bool
    version: str
    url: str

    def describe(self) -> str:
        if not self.running:
            return "not running"
        answering = "" if self.answering else ", not answering"
        return f"Apicurio Registry {self.version} at {self.url} (pid {self.pid}{answering})"


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a Confluent-compatible registry answers at ``url`` (its subject list)."""
    try:
        with urllib.request.urlopen(url + "/subjects", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


class DevRegistry:
    def __init__(self, settings: RegistrySettings, say: Callable[[str], None] = lambda _: None) -> None:
        self.version = settings.version
        self.port = settings.port
        self.heap = settings.heap
        self.start_timeout = settings.start_timeout_seconds
        self.app_dir = settings.cache / self.version
        self.home = settings.home / str(self.port)
        self.say = say

    @property
    def url(self) -> str:
        """What clients set as the registry URL (Confluent's API)."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT}"

    @property
    def log_file(self) -> Path:
        return self.home / "registry.log"

    @property
    def _pid_file(self) -> Path:
        return self.home / "registry.pid"

    @property
    def _runner(self) -> Path:
        return self.app_dir / f"apicurio-registry-app-{self.version}-runner.jar"

    def fetch(self) -> Path:
        """Resolve and unpack the application once; later calls reuse the cache."""
        stamp = self.app_dir / ".complete"
        if stamp.exists():
            return self.app_dir
        self.say(f"fetching Apicurio Registry {self.version} from Maven Central (first run only, about 140 MB)")
        work = self.app_dir.parent
        work.mkdir(parents=True, exist_ok=True)
        download = work / "download.partial"
        shutil.rmtree(download, ignore_errors=True)
        jvm.maven(
            f"{jvm.DEPENDENCY_PLUGIN}:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{self.version}:tar.gz:all",
            f"-DoutputDirectory={download}",
            what=f"Apicurio Registry {self.version}",
        )
        unpacked = work / f"{self.version}.partial"
        shutil.rmtree(unpacked, ignore_errors=True)
        with tarfile.open(next(download.glob("*.tar.gz"))) as archive:
            archive.extractall(unpacked, filter="data")  # no absolute paths, links out or devices
        shutil.rmtree(download, ignore_errors=True)
        shutil.rmtree(self.app_dir, ignore_errors=True)
        unpacked.rename(self.app_dir)
        stamp.write_text(self.version)
        return self.app_dir

    def pid(self) -> int | None:
        return jvm.running(self._pid_file, b"apicurio-registry-app")

    def status(self) -> RegistryStatus:
        pid = self.pid()
        return RegistryStatus(pid is not None, pid, pid is not None and answers(self.url), self.version, self.url)

    def start(self) -> RegistryStatus:
        """Start the registry, or do nothing if it already runs; returns once it answers."""
        current = self.status()
        if current.running:
            if not current.answering:
                assert current.pid is not None
                self._wait_ready(current.pid)
            return self.status()
        if answers(self.url):
            raise jvm.JvmError(f"port {self.port} already has a registry that this tool did not start")
        self.fetch()
        self.home.mkdir(parents=True, exist_ok=True)
        self.say(f"starting Apicurio Registry {self.version} on {self.url}")
        cmd = [
            jvm.java(),
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",  # a small heap on a small machine: one GC thread
            "-XX:CICompilerCount=2",
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.http.host=127.0.0.1",
            "-Dquarkus.log.console.json=false",
            "-jar",
            str(self._runner),
        ]
        proc = jvm.spawn(cmd, self.log_file, self._pid_file)
        try:
            self._wait_ready(proc.pid)
        except jvm.JvmError:
            jvm.terminate(proc.pid)
            raise
        return self.status()

    def _wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not jvm.alive(pid):
                raise jvm.JvmError(f"the registry exited during start-up; log tail:\n{self.log_tail(30)}")
            if answers(self.url):
                return
            time.sleep(0.2)
        raise jvm.JvmError(
            f"the registry did not answer on {self.url} within {self.start_timeout:.0f} s; "
            f"log tail:\n{self.log_tail(30)}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the registry; True if one was running. Its subjects were in memory: they are gone."""
        pid = self.pid()
        if pid is not None:
            jvm.terminate(pid, timeout)
        self._pid_file.unlink(missing_ok=True)
        return pid is not None

    def log_tail(self, lines: int = 50) -> str:
        return jvm.tail(self.log_file, lines, "(no registry log yet)")
