"""Every ``cdp-triggers`` command the docs show names a real command, and every option it passes is one of that
command's options: a renamed flag fails here, not in a reader's shell."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from streams.cli import app
from tests.support.doc_blocks import PAGES, page_commands

ROOT = Path(__file__).resolve().parents[1]


def documented() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for words in page_commands(page, "bash", "console", "sh"):
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
                words = words[1:]
            if words[:2] == ["uv", "run"]:
                words = words[2:]
            if words and Path(words[0]).name == "cdp-triggers":  # on PATH, or an installed one by its path
                found.append((page.name, words[1:]))
    return found


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The click command the words name, and the words left for it."""
    command = typer.main.get_command(app)
    rest = list(words)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command = command.commands[rest.pop(0)]
    return command, rest


def test_every_documented_command_and_option_exists():
    shown = documented()
    assert len(shown) >= 15, shown
    for page, words in shown:
        command, rest = resolve(words)
        assert not hasattr(command, "commands") or "--help" in rest, f"{page}: {words}: no such command"
        options = {o for p in command.params if p.param_type_name == "option" for o in [*p.opts, *p.secondary_opts]}
        if "<" in rest:  # input redirected: the command must be told to read it ('-' as the document)
            assert "-" in rest, f"{page}: cdp-triggers {' '.join(words)}: stdin is given but not read"
        for word in rest:
            flag = word.split("=", 1)[0]
            if flag.startswith("-") and flag != "-":
                assert flag in options | {"--help"}, f"{page}: cdp-triggers {' '.join(words)}: no option {flag}"


def test_the_command_line_page_lists_every_command():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    reference = hooks.cli_reference()

    def leaves(command: Any, path: list[str]) -> list[str]:
        if hasattr(command, "commands"):
            return [leaf for name, sub in command.commands.items() for leaf in leaves(sub, [*path, name])]
        return [" ".join(path)]

    for leaf in leaves(typer.main.get_command(app), []):
        assert f"`cdp-triggers {leaf}" in reference, leaf
