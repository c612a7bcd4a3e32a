"""Following the actions topic outside any consumer group (``tail``, the demo)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from ..kafka.clients import KafkaConnection, close_bounded, require_topic
from ..settings import Settings
from ..topics import Topics


async def trigger_records(
    settings: Settings, *, from_beginning: bool = False, poll_ms: int = 300
) -> AsyncGenerator[list[bytes], None]:
    """Batches of raw trigger events as they arrive (an empty batch when none
    came within ``poll_ms``, so callers can check their own deadlines)."""
    actions = Topics(settings).actions
    await require_topic(settings, actions)
    consumer = KafkaConnection(settings).consumer(
        actions, group_id=None, auto_offset_reset="earliest" if from_beginning else "latest"
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=poll_ms)
            yield [record.value for records in batches.values() for record in records]
    finally:
        await close_bounded(consumer.stop(), "the actions reader")
