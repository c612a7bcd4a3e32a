"""``cdp-triggers`` as a user runs it: a process with the settings in its environment."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from devtools.processes import ROOT, env_for


def cli(settings: Any, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env={**env_for(settings), **env},
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
