"""Reading a process's /metrics endpoint and its probes."""

from __future__ import annotations


def metrics_at(port: int) -> str:
    import urllib.request

    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def metrics_text(worker) -> str:
    return metrics_at(worker.settings.metrics_port)


def probe(port: int, path: str) -> int:
    """The HTTP status of one probe (``/livez``, ``/readyz``) on loopback; 0 while nothing answers."""
    import urllib.error
    import urllib.request

    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait_for_metric(worker, line: str, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in metrics_text(worker):
            return
        time.sleep(0.2)
    raise AssertionError(f"metric line {line!r} not seen")
