"""What the dev broker and the dev registry share: Java found once, Maven Central as the only download, and a
detached JVM with a pid file, stopped by SIGTERM (then SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

# Pinned: without it Maven resolves an old default plugin version.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class JvmError(Exception):
    """A dev service could not be fetched, started or stopped."""


def java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    found = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not found or not Path(found).exists():
        raise JvmError("Java is not installed (need Java 17+ on PATH or JAVA_HOME)")
    return found


def maven(goal: str, *args: str, pom: Path | None = None, what: str) -> None:
    """Run one Maven goal quietly; a failure names ``what`` with Maven's last lines."""
    if shutil.which("mvn") is None:
        raise JvmError("Maven (mvn) is not on PATH; install it (apt-get install maven)")
    cmd = ["mvn", "-B", "-q", *(["-f", str(pom)] if pom else []), goal, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise JvmError(f"Maven could not resolve {what}:\n" + "\n".join(tail))


def running(pid_file: Path, marker: bytes) -> int | None:
    """The pid in ``pid_file`` when that process is alive and its command line holds ``marker`` (a recycled pid
    would not be ours)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if marker in cmdline else None


def spawn(cmd: list[str], log_file: Path, pid_file: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` detached (it survives the shell that started it, like a daemon), its output appended to
    ``log_file``, its pid in ``pid_file``."""
    with open(log_file, "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    pid_file.write_text(str(proc.pid))
    return proc


def terminate(pid: int, timeout: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        # Reap it if it is our child, so it does not linger as a zombie.
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def tail(log_file: Path, lines: int, missing: str) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return missing
    return "\n".join(text.splitlines()[-lines:])
