"""Debian's headless Chromium, driven by Playwright, for the tests that look at pages."""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's (./dev setup test installs it)
# no background traffic: this machine's network is closed, and tests may count every request that leaves
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched browser, closed after."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: run './dev setup' (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def distinct_colours(png: Path) -> int:
    """How many distinct pixels the screenshot's first rows hold (a blank page has one)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        chunks.setdefault(kind, b"")
        chunks[kind] += data[at + 8 : at + 8 + length]
        at += 12 + length
    width, _, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6)
    stride = width * (4 if colour == 6 else 3) + 1
    raw = zlib.decompress(chunks[b"IDAT"])
    # filter bytes aside, raw scanline bytes of a uniform image are all equal whatever the filter
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(0, min(400, len(raw) // stride))]
    return len({row[j : j + 3] for row in rows for j in range(0, len(row), 3 * 16)})
