"""Waiting for a condition in a test, with a bound and a message that says what did not happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition", log=lambda: "") -> Any:
    """``check``'s first true value; AssertionError naming ``what`` (and the end of ``log()``) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{log()[-4000:]}")
