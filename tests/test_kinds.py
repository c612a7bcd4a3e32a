"""The markers that split the fast tests from the rest are checked, not trusted (``tests.support.kinds``)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.support.kinds import GUARD, Guard, MissingMarker, kind_of_process


@dataclass
class FakeItem:
    nodeid: str = "tests/x.py::test_x"
    markers: set[str] = field(default_factory=set)
    fixturenames: list[str] = field(default_factory=list)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


@pytest.mark.parametrize(
    "args, kind",
    [
        (["/usr/bin/chromium", "--headless"], "browser"),
        (["/venv/lib/python3.11/site-packages/playwright/driver/node", "cli.js"], "browser"),
        (["podman", "--runtime", "runc", "build"], "image"),
        ([sys.executable, "-m", "streams.cli", "worker"], "subprocess"),
        ("openssl req -x509", "subprocess"),
        ([b"/usr/bin/promtool", b"check"], "subprocess"),
    ],
)
def test_each_command_needs_the_marker_of_its_kind(args, kind):
    assert kind_of_process(args) == kind


def test_a_process_start_needs_its_marker():
    guard = Guard()
    guard.current = FakeItem()
    with pytest.raises(MissingMarker, match="not marked 'subprocess'"):
        guard.check_process(["java", "-jar", "kafka.jar"])
    with pytest.raises(MissingMarker, match="not marked 'browser'"):
        guard.check_process(["chromium"])
    guard.current = FakeItem(markers={"subprocess"})
    guard.check_process(["java", "-jar", "kafka.jar"])
    with guard.unchecked():
        guard.current = None
        guard.check_process(["chromium"])  # the broker fixtures start their broker this way


def test_the_broker_fixture_needs_the_broker_marker():
    with pytest.raises(MissingMarker, match="not marked 'broker'"):
        Guard.check_fixtures(FakeItem(fixturenames=["tmp_path", "broker", "settings"]))
    Guard.check_fixtures(FakeItem(markers={"broker"}, fixturenames=["broker"]))


def test_this_unmarked_test_cannot_start_a_process():
    """The guard is installed for the session: a real start, refused before anything runs."""
    assert GUARD.current is not None and GUARD.current.name == "test_this_unmarked_test_cannot_start_a_process"
    with pytest.raises(MissingMarker, match="not marked 'subprocess'"):
        subprocess.run(["true"], check=True)
