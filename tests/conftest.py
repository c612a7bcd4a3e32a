"""Shared fixtures. The broker fixture starts the real dev broker once per
session (or uses the one the test command started) and fails the run, never
skips, when it cannot. A test's markers say what it needs beyond Python, and
are checked while it runs (``tests.support.kinds``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mode.utils.cron  # noqa: F401  # croniter runs `file -b` on import: once here, not inside a guarded test
import pytest

from devtools.broker import DevBroker
from devtools.jvm import JvmError
from devtools.registry import DevRegistry
from devtools.settings import load_broker_settings, load_registry_settings
from streams.kafka.clients import ensure_topics
from tests.support import measured
from tests.support.kafka import Kafka, WorkerProcess, delete_test_topics, free_port, test_settings
from tests.support.kinds import GUARD, KINDS, is_fast


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tests",
        choices=("fast", "integration"),
        help="fast: only the tests that need none of " + ", ".join(KINDS) + " (no broker runs); integration: the rest",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("--tests")
    if chosen is None:
        return
    wanted = chosen == "fast"
    config.hook.pytest_deselected(items=[item for item in items if is_fast(item) != wanted])
    items[:] = [item for item in items if is_fast(item) == wanted]


def pytest_configure(config: pytest.Config) -> None:
    for kind, meaning in KINDS.items():
        config.addinivalue_line("markers", f"{kind}: {meaning}")
    GUARD.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    GUARD.uninstall()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    GUARD.current = item  # during its setup too: a module's fixture that starts a process counts
    try:
        yield
    finally:
        GUARD.current = None


def pytest_runtest_setup(item: pytest.Item) -> None:
    GUARD.check_fixtures(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]  # pluggy's hookwrapper result is untyped here
    if report.when == "call":
        measured.settle(report.passed, item.nodeid)


@pytest.fixture(scope="session")
def broker() -> Iterator[DevBroker]:
    dev = DevBroker(load_broker_settings())
    already_running = dev.status().answering
    try:
        with GUARD.unchecked():
            dev.start()
    except JvmError as exc:
        pytest.fail(f"the Kafka broker could not start; integration tests cannot run:\n{exc}", pytrace=False)
    yield dev
    try:
        delete_test_topics(dev.bootstrap)
    finally:
        if not already_running:
            dev.stop()


@pytest.fixture
def own_broker(broker: DevBroker, tmp_path: Path) -> Iterator[DevBroker]:
    """A broker of this test's own, so that stopping, restarting or freezing it (SIGSTOP) touches no other test."""
    import os
    import signal

    from devtools.processes import free_port_block

    dev = DevBroker(load_broker_settings(port=free_port_block(2), home=tmp_path / "broker"))
    with GUARD.unchecked():
        dev.start()
    yield dev
    pid = dev.pid()
    if pid is not None:
        os.kill(pid, signal.SIGCONT)  # a test that froze it and failed before thawing it
    dev.stop()


@pytest.fixture(scope="session")
def kafka(broker: DevBroker) -> Kafka:
    return Kafka(broker.bootstrap)


@pytest.fixture
def settings(broker: DevBroker, tmp_path: Path):
    """Settings with this test's own topics and consumer group; topics created."""
    import asyncio

    s = test_settings(broker.bootstrap, tmp_path)
    asyncio.run(ensure_topics(s))
    return s


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRegistry]:
    """A Schema Registry of the module's own (Apicurio, subjects in memory), stopped after it."""
    dev = DevRegistry(load_registry_settings(port=free_port(), home=tmp_path_factory.mktemp("registry")))
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator:
    started: list[WorkerProcess] = []

    def make(settings, name: str = "worker", command: str = "worker", env: dict | None = None) -> WorkerProcess:
        w = WorkerProcess(settings, tmp_path / f"{name}.log", command, env)
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


@pytest.fixture
def worker(settings, worker_factory) -> WorkerProcess:
    return worker_factory(settings).start()
