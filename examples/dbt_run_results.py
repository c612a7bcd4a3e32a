"""Turn a dbt run's ``target/run_results.json`` into refresh-run events and post them to cdp-triggers.

Each dbt model becomes a task of one refresh run: ``run_started`` declares them all, then one
``task_progress`` per model says how it ended. The engine fires "full refresh completed" once every
task has finished. Run it after ``dbt run``, in the same job (a dbt ``on-run-end`` hook cannot read
run_results.json: dbt writes it after the hooks)::

    dbt run; status=$?
    python dbt_run_results.py target/run_results.json      # CDP_TRIGGERS_URL, CDP_TRIGGERS_KEY set
    exit $status

The standard library only. Event ids come from dbt's invocation id, so posting the same file again
publishes nothing new: the engine ignores the repeats.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from datetime import datetime, timedelta
from typing import Any

# dbt's node statuses -> a task's final status in cdp-triggers
_STATUS = {"success": "succeeded", "pass": "succeeded", "error": "failed", "fail": "failed", "skipped": "skipped"}


def run_events(run_results: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch for ``POST /v1/events``: one run_started, then one task_progress per model."""
    metadata = run_results["metadata"]
    run_id = f"dbt/{metadata['invocation_id']}"
    finished = datetime.fromisoformat(metadata["generated_at"].replace("Z", "+00:00"))
    started = finished - timedelta(seconds=run_results.get("elapsed_time", 0))
    models = [r for r in run_results["results"] if r["unique_id"].split(".")[0] in ("model", "snapshot", "seed")]
    tasks = [{"kind": "other", "name": r["unique_id"]} for r in models]
    events = [
        {
            "kind": "run",
            "event": {
                "event_id": f"{run_id}/started",
                "event_time": started.isoformat(),
                "kind": "run_started",
                "run_id": run_id,
                "trigger": "scheduled",
                "tasks": tasks,
            },
        }
    ]
    for result, task in zip(models, tasks, strict=True):
        progress: dict[str, Any] = {
            "event_id": f"{run_id}/{task['name']}",
            "event_time": _completed_at(result, finished).isoformat(),
            "kind": "task_progress",
            "run_id": run_id,
            "task": task,
            "status": _STATUS.get(result["status"], "failed"),
        }
        if result.get("message"):
            progress["message"] = str(result["message"])[:4096]
        events.append({"kind": "run", "event": progress})
    return events


def _completed_at(result: dict[str, Any], default: datetime) -> datetime:
    for timing in result.get("timing", []):
        if timing.get("name") == "execute" and timing.get("completed_at"):
            return datetime.fromisoformat(timing["completed_at"].replace("Z", "+00:00"))
    return default


def post(events: list[dict[str, Any]]) -> None:
    body = b"".join(json.dumps(event).encode() + b"\n" for event in events)  # NDJSON, one event a line
    request = urllib.request.Request(
        os.environ["CDP_TRIGGERS_URL"].rstrip("/") + "/v1/events",
        data=body,
        headers={"Content-Type": "application/x-ndjson", "X-API-Key": os.environ["CDP_TRIGGERS_KEY"]},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:  # 202: Kafka has every event
        print(json.load(answer)["accepted"], "events published")


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "target/run_results.json") as results:
        post(run_events(json.load(results)))
