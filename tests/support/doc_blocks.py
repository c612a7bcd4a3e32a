"""The code a docs page shows, for the tests that hold the docs to the code: fenced blocks by language, and a shell
block's commands as a reader's shell would split them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # every page a user reads


def code_blocks(page: Path, *languages: str) -> list[str]:
    """The page's fenced blocks in these languages, in order."""
    fence = "|".join(map(re.escape, languages))
    return re.findall(rf"```(?:{fence})\n(.*?)```", page.read_text(), re.S)


def shell_commands(block: str) -> list[list[str]]:
    """A shell block's commands as words: continuation lines joined, a quoted string may span lines, ``a && b``
    is two commands, ``for X in A B; do ...; done`` is unrolled, and a here-document's body is data, not commands."""

    def unroll(loop: re.Match[str]) -> str:
        var, values, body = loop.groups()
        return "\n".join(body.replace(f"${var}", value) for value in values.split())

    text = re.sub(r"for (\w+) in ([^;]+); do\n(.*?)\ndone", unroll, block.replace("\\\n", " "), flags=re.S)
    commands: list[list[str]] = []
    pending, heredoc = "", None
    for line in text.splitlines():
        if heredoc is not None:
            heredoc = None if line.strip() == heredoc else heredoc
            continue
        pending += line + "\n"
        try:
            words = shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        pending = ""
        if opened := re.search(r"<<-?\s*'?(\w+)'?", line):
            heredoc = opened.group(1)
        while "&&" in words:
            at = words.index("&&")
            commands.append(words[:at])
            words = words[at + 1 :]
        if words:
            commands.append(words)
    assert not pending, f"an unclosed quote in {block!r}"
    return commands


def page_commands(page: Path, *languages: str) -> list[list[str]]:
    """Every command of the page's shell blocks (``bash`` unless told)."""
    return [words for block in code_blocks(page, *(languages or ("bash",))) for words in shell_commands(block)]
