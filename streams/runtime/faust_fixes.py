"""Targeted fixes for the pinned faust-streaming (0.15.3), each proven by a test.

ProducerBuffer.flush: faust flushes the producer before committing offsets, but
the buffer that holds table changelog writes gives up after 0.1 s without
progress (``flush_atmost``) and returns with messages still queued. The offset
commit then overtakes the changelog, and a worker killed right after loses
state for events it will not reprocess; our SIGKILL test saw triggers lost
this way. The fix drains the buffer completely before returning.
"""

from __future__ import annotations

import asyncio

import faust
from faust.transport.producer import ProducerBuffer

FAUST_VERSION = "0.15.3"


async def _drain_completely(self: ProducerBuffer) -> None:
    while self.size:
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except asyncio.TimeoutError:
            continue  # slow, not done: keep waiting rather than let the commit overtake


def apply() -> None:
    if faust.__version__ != FAUST_VERSION:
        raise RuntimeError(
            f"streams.runtime.faust_fixes was written for faust-streaming {FAUST_VERSION}, found {faust.__version__}: "
            "re-check the fix against the new release (and its SIGKILL test) before upgrading"
        )
    ProducerBuffer.flush = _drain_completely  # type: ignore[method-assign]

