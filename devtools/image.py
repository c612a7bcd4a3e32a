"""Building the repository's image with podman (no Docker engine needed), for './dev image' and the image tests.

The Dockerfile's base is a public image pinned by digest. Where it cannot be pulled (a machine without a public
registry), a stand-in is made once from Debian's own packages: the same Debian release and Python minor version,
with ``python3.11`` on PATH and ensurepip, which is all the Dockerfile asks of its base. It is said, not hidden.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = "localhost/cdp-triggers:dev"
STAND_IN = "localhost/cdp-triggers-base:bookworm-python3.11"
# crun refuses cgroups in hybrid mode on some hosts; runc runs everywhere podman does.
PODMAN = ["podman", "--runtime", "runc"]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# podman raises a container's open-files and processes limits by default; a host that refuses raising them
# (these machines do) fails every start, so a run asks for modest ones, enough for every process here.
RUN_LIMITS = ["--ulimit=nofile=4096:4096", "--ulimit=nproc=4096:4096"]


class ImageError(Exception):
    """The image could not be built; the message says which step and why."""


def pinned_base() -> str:
    """The ``BASE`` the Dockerfile pins."""
    found = re.search(r"^ARG BASE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    if found is None:
        raise ImageError("the Dockerfile has no 'ARG BASE=...' line")
    return found.group(1)


def podman(*args: str, timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    if shutil.which("podman") is None:
        raise ImageError("podman is not installed (Debian: apt-get install podman runc)")
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise ImageError(f"podman {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return done


def exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def base(say: Callable[[str], None]) -> str:
    """The pinned base if it is here or can be pulled, else the Debian stand-in (made once)."""
    pinned = pinned_base()
    if exists(pinned) or podman("pull", "--quiet", pinned, timeout=300, check=False).returncode == 0:
        return pinned
    if not exists(STAND_IN):
        say(f"the pinned base {pinned.split('@')[0]} cannot be pulled here: making a stand-in from Debian packages")
        make_stand_in()
    say(f"base: {STAND_IN} (a stand-in for {pinned.split('@')[0]})")
    return STAND_IN


def make_stand_in() -> None:
    """Debian bookworm (minbase) with python3.11, its venv module and CA certificates, imported as ``STAND_IN``."""
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed (Debian: apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="cdp-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        made = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3.11,python3.11-venv,python3-distutils,python3-lib2to3,ca-certificates",
                "bookworm",
                str(rootfs),
                "http://deb.debian.org/debian",
            ],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if made.returncode != 0:
            raise ImageError(f"debootstrap failed: {(made.stderr or made.stdout).strip()[-2000:]}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / cache, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = subprocess.run(
                [*PODMAN, "import", "--change", 'CMD ["python3.11"]', "-", STAND_IN],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            tar.kill()  # done, or its reader gave up: either way it writes to nobody now
            tar.wait(60)
        if imported.returncode != 0:
            raise ImageError(f"podman import failed: {imported.stderr.strip()[-2000:]}")


def version() -> str:
    found = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert found, "pyproject.toml has a version"
    return found.group(1)


def revision() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def build(say: Callable[[str], None] = print, tag: str = TAG) -> str:
    """Build the Dockerfile as ``tag``; the tag."""
    args = [
        "build",
        "--network",
        "host",
        "--tag",
        tag,
        "--build-arg",
        f"BASE={base(say)}",
        "--build-arg",
        f"VERSION={version()}",
        "--build-arg",
        f"REVISION={revision()}",
    ]
    if CA_BUNDLE.exists():  # this machine's proxy may intercept TLS: the build trusts what the machine trusts
        args += ["--volume", f"{CA_BUNDLE}:/run/ca-bundle.crt:ro", "--build-arg", "CA_BUNDLE=/run/ca-bundle.crt"]
    say(f"building {tag} with podman")
    podman(*args, str(ROOT), timeout=1800)
    # each build leaves its build stage and the image the tag moved from: untagged, ours, 300-600 MB a time
    podman("image", "prune", "--force", "--filter", "label=io.cdp-triggers.built-by=dockerfile", timeout=300)
    return tag


def main() -> None:
    import sys

    try:
        tag = build(lambda line: print(f"» {line}", flush=True))
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    size = podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()
    print(f"built {tag} ({int(size) / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
