"""Faust's API as our code uses it, typed once (not fixes: those are in ``faust_fixes``).

Faust's timer decorator is untyped, and it types signal receivers as plain functions although it awaits
coroutine ones: ``timer`` and ``receiver`` say what our code relies on. ``kafka_producer`` reaches the aiokafka
producer inside Faust's, which our batches go to. ``QuietMonitor``: Faust's Monitor sensor keeps statistics of
every message, stream event and table access for its web views, which we do not run (our metrics are our own):
its per-event hooks are the base sensor's no-ops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
from faust.sensors.base import Sensor
from faust.sensors.monitor import Monitor


class QuietMonitor(Monitor):
    """Faust's monitor without its per-event bookkeeping (offsets and commits are still tracked)."""

    on_message_in = Sensor.on_message_in
    on_stream_event_in = Sensor.on_stream_event_in
    on_stream_event_out = Sensor.on_stream_event_out
    on_message_out = Sensor.on_message_out
    on_table_get = Sensor.on_table_get
    on_table_set = Sensor.on_table_set
    on_table_del = Sensor.on_table_del
    on_send_initiated = Sensor.on_send_initiated
    on_send_completed = Sensor.on_send_completed


def kafka_producer(app: faust.App) -> Any:
    """The aiokafka producer inside Faust's (started with the app): batches sent to it are covered by the
    producer flush Faust does before each commit."""
    producer = getattr(app.producer, "_producer", None)
    if producer is None:
        raise RuntimeError("Faust's producer is not started")
    return producer


Periodic = TypeVar("Periodic", bound=Callable[[], Awaitable[None]])
Receiver = TypeVar("Receiver", bound=Callable[..., Awaitable[None]])


def timer(app: faust.App, interval: float, name: str | None = None) -> Callable[[Periodic], Periodic]:
    """``@app.timer(interval=..., name=...)``, typed."""
    decorate: Any = app.timer(interval=interval, name=name)

    def register(fn: Periodic) -> Periodic:
        decorate(fn)
        return fn

    return register


def receiver(signal: Any) -> Callable[[Receiver], Receiver]:
    """``@signal.connect`` for an async receiver ``(sender, *args, **kwargs)``, typed."""

    def register(fn: Receiver) -> Receiver:
        signal.connect(fn)
        return fn

    return register
