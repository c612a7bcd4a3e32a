"""What a test needs beyond Python, as markers that are checked, not trusted.

``./dev test --fast`` runs the tests that carry none of these markers, with no broker running; the markers must
therefore tell the truth. Two checks hold them to it, both while the tests run (so a lazy import or a helper
that starts a process counts as much as a fixture):
- a test that uses the ``broker`` fixture (directly or through ``settings``, ``kafka``, ``worker``, a module's
  own fixture...) must be marked ``broker``;
- a test that starts a process must be marked for what it starts: ``browser`` for Chromium (or Playwright's
  driver, which starts it), ``image`` for podman, ``subprocess`` for anything else.
A test that breaks either fails, naming the marker it lacks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

KINDS = {
    "broker": "needs the real local Kafka broker (started by the session fixture)",
    "subprocess": "starts a process (a worker, the API, the CLI, helm, promtool...)",
    "browser": "drives a real Chromium",
    "image": "builds or runs the container image (podman)",
}
BROWSERS = ("chromium", "chrome", "chrome-headless-shell")
IMAGE_TOOLS = ("podman", "buildah", "docker")


def kind_of_process(args: str | bytes | os.PathLike[str] | Sequence[Any]) -> str:
    """The marker a test needs to start this command line (pure)."""
    first: Any = args if isinstance(args, str | bytes | os.PathLike) else args[0]
    program = Path(os.fsdecode(first).split()[0] if isinstance(first, str | bytes) else os.fsdecode(first))
    if program.name in BROWSERS or "playwright" in program.parts:  # Playwright starts its driver, then Chromium
        return "browser"
    if program.name in IMAGE_TOOLS:
        return "image"
    return "subprocess"


def is_fast(item: pytest.Item) -> bool:
    """Whether ``pytest --tests fast`` runs it: it needs none of the kinds."""
    return not any(item.get_closest_marker(kind) for kind in KINDS)


class Guard:
    """Installed once per session: refuses a process start in a test not marked for it."""

    def __init__(self) -> None:
        self.current: pytest.Item | None = None
        self._original = subprocess.Popen._execute_child  # type: ignore[attr-defined]  # private, and the one place every start goes through (asyncio's too)

    def install(self) -> None:
        guard = self

        def execute_child(popen: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
            guard.check_process(args)
            guard._original(popen, args, *rest, **kwargs)

        subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]  # see __init__

    def uninstall(self) -> None:
        subprocess.Popen._execute_child = self._original  # type: ignore[attr-defined]  # see __init__

    @contextmanager
    def unchecked(self) -> Iterator[None]:
        """For the broker fixtures: the broker they start is what the ``broker`` marker stands for."""
        item, self.current = self.current, None
        try:
            yield
        finally:
            self.current = item

    def check_process(self, args: Any) -> None:
        item = self.current
        if item is None:  # outside any test (collection), or unchecked()
            return
        needed = kind_of_process(args)
        if item.get_closest_marker(needed) is None:
            shown = args if isinstance(args, str) else " ".join(os.fsdecode(a) for a in args)
            raise MissingMarker(
                f"{item.nodeid} starts a process ({shown[:120]}) but is not marked '{needed}': "
                f"add @pytest.mark.{needed} (or to the module's pytestmark) so './dev test --fast' leaves it out"
            )

    @staticmethod
    def check_fixtures(item: pytest.Item) -> None:
        if "broker" in getattr(item, "fixturenames", ()) and item.get_closest_marker("broker") is None:
            raise MissingMarker(
                f"{item.nodeid} uses the broker fixture but is not marked 'broker': add @pytest.mark.broker "
                "(or to the module's pytestmark) so './dev test --fast' leaves it out"
            )


class MissingMarker(Exception):
    """A test needs more than its markers say."""


GUARD = Guard()
