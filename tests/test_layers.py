"""The folders are the layers: nothing imports upward.

schemas < streams (settings, topics, metrics) < detection < kafka (the Kafka kit) < runtime (the Faust engine)
< worker | delivery; client < api < cli, where the client and the API build on the kit, never on the engine;
devtools apart, imported in streams only by cli. Read from the source with ``ast``, so a lazy import inside a
function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each layer and the layers it may import (besides itself and the standard library / third parties).
BASE = {"schemas"}
KIT = BASE | {"streams.base", "streams.detection", "streams.kafka"}
ENGINE = KIT | {"streams.runtime"}
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "streams.base": BASE,  # streams/settings.py, topics.py, metrics.py
    "streams.detection": BASE | {"streams.base"},
    "streams.kafka": BASE | {"streams.base", "streams.detection"},
    "streams.runtime": KIT,
    "streams.worker": ENGINE,
    "streams.delivery": ENGINE,
    "streams.client": KIT,
    "streams.api": KIT | {"streams.delivery", "streams.client"},
    "streams.cli": ENGINE | {"streams.worker", "streams.delivery", "streams.client", "streams.api", "devtools"},
    "devtools": ENGINE | {"streams.worker", "streams.delivery", "streams.client", "streams.api"},
}
# Third parties a layer must not import: the kit stands apart from Faust (and mode, Faust's service library)
FORBIDDEN: dict[str, set[str]] = {"streams.kafka": {"faust", "mode"}, "streams.client": {"faust", "mode"}}
FIRST_PARTY = ("schemas", "streams", "devtools", "tests", "benchmarks")


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "streams":
        return parts[0]
    if len(parts) > 1 and f"streams.{parts[1]}" in ALLOWED:
        return f"streams.{parts[1]}"
    return "streams.base"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every first-party import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # ``from . import x`` names modules: resolve each so ``from .. import runtime`` is seen too
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            found += [(node.lineno, name) for name in names]
    return [(line, name) for line, name in found if name.split(".")[0] in FIRST_PARTY]


def third_party(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import of a package outside this repository."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return sorted((line, name) for line, name in found if name not in FIRST_PARTY)


def upward(path: Path, module: str) -> list[str]:
    here = layer_of(module)
    return [
        f"{module} (line {line}): {here} imports {target} ({layer_of(target)})"
        for line, target in imports(path, module)
        if layer_of(target) != here and layer_of(target) not in ALLOWED[here]
    ]


def test_nothing_imports_upward():
    found = [
        v
        for top in ("schemas", "streams", "devtools")
        for path in sorted((ROOT / top).rglob("*.py"))
        for v in upward(path, module_name(path))
    ]
    assert found == []


def test_the_kafka_kit_and_the_client_import_no_faust():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for layer, names in FORBIDDEN.items()
        for path in sorted((ROOT / layer.replace(".", "/")).rglob("*.py"))
        for line, name in third_party(path)
        if name in names
    ]
    assert found == []


def test_benchmarks_import_no_test_module():
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {target}"
        for path in sorted((ROOT / "benchmarks").rglob("*.py"))
        for line, target in imports(path)
        if target.split(".")[0] == "tests"
    ]
    assert offending == []


def test_the_checker_sees_upward_imports(tmp_path):
    """The check can fail: relative, absolute and lazy upward imports are caught."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from ..runtime.pipeline import Pipeline\nfrom .. import cli\ndef f():\n    import devtools.demo\n"
    )
    found = upward(probe, "streams.detection.probe")
    assert [v.split(": ", 1)[1] for v in found] == [
        "streams.detection imports streams.runtime.pipeline (streams.runtime)",
        "streams.detection imports streams.cli (streams.cli)",
        "streams.detection imports devtools.demo (devtools)",
    ]


def test_the_checker_sees_faust_in_the_kit(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import faust\ndef f():\n    from mode.utils import cron\nfrom aiokafka import TopicPartition\n")
    assert third_party(probe) == [(1, "faust"), (3, "mode"), (4, "aiokafka")]
    # and the client may not take the engine
    assert upward(tmp_path / "probe.py", "streams.client.probe") == []
    probe.write_text("from ..runtime.pipeline import Pipeline\n")
    assert upward(probe, "streams.client.probe") == [
        "streams.client.probe (line 1): streams.client imports streams.runtime.pipeline (streams.runtime)"
    ]
