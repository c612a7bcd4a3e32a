"""The worker and dispatcher as real processes, for tests and benchmarks:
started with the environment a ``Settings`` describes, ready when Faust says
so, stopped (or SIGKILLed) by process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from streams.settings import Settings
from streams.topics import Topics

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(n: int) -> int:
    """A port p such that p .. p+n-1 are all free (a dev broker uses p+1 for its controller, p+2, p+3 secured)."""
    for _ in range(100):
        first = free_port()
        sockets = []
        try:
            for port in range(first, first + n):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):  # comma-separated, as the settings read them
            value = ",".join(str(v) for v in value)
        if value is not None:
            env[f"CDP_{name.upper()}"] = str(value)
    return env


class WorkerProcess:
    """``cdp-triggers worker`` as a real process, with its log captured."""

    READY = {"api": b"Application startup complete"}  # else Faust's worker line

    def __init__(
        self, settings: Settings, log_path: Path, command: str = "worker", env: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.ready = self.READY.get(command, b"Worker]: Ready")
        self.command = command
        self.extra_env = env or {}
        self.topics = Topics(settings)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", *self.command.split()],
                env={**env_for(self.settings), **self.extra_env},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                if self.ready in f.read():
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command} not ready in {timeout} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no commit."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None, "start() first"
        return self.proc

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
