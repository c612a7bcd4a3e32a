"""Reading a worker's /metrics endpoint."""

from __future__ import annotations


def metrics_text(worker) -> str:
    import urllib.request

    url = f"http://127.0.0.1:{worker.settings.metrics_port}/metrics"
    return urllib.request.urlopen(url, timeout=5).read().decode()


def wait_for_metric(worker, line: str, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in metrics_text(worker):
            return
        time.sleep(0.2)
    raise AssertionError(f"metric line {line!r} not seen")
