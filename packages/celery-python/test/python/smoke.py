"""Smoke test of an installed resultstore-celery (run from a fresh venv, outside the workspace).

argv[1]: JSON list of {"url": "<url after resultstore+>", "settings": {...}, "task_id": "..."}.
For each: record QUEUED with metadata, a worker's STARTED and SUCCESS, then a late STARTED that
must be refused. Prints one JSON answer: Celery's version, and per target the backend class and
the meta read back.
"""

import json
import sys
from datetime import datetime

import celery
from celery import Celery
from celery.app.task import Context

from resultstore_celery import mark_queued


def main():
    answers = []
    for target in json.loads(sys.argv[1]):
        app = Celery("smoke")
        app.conf.update(
            result_backend=f"resultstore+{target['url']}", result_extended=True, **target.get("settings", {})
        )
        backend = app.backend
        task_id = target["task_id"]
        request = Context(id=task_id, task="smoke.add", args=[40, 2], kwargs={}, hostname="smoke@host", retries=0)
        mark_queued(backend, task_id, metadata={"tenant": "acme"}, name="smoke.add", args=[40, 2], queue="smoke")
        backend.store_result(task_id, {"pid": 1, "hostname": "smoke@host"}, "STARTED", request=request)
        backend.store_result(task_id, 42, "SUCCESS", request=request)
        backend.store_result(task_id, {"pid": 2, "hostname": "late@host"}, "STARTED", request=request)
        meta = backend.get_task_meta(task_id, cache=False)
        answers.append(
            {
                "backend": f"{type(backend).__module__}.{type(backend).__qualname__}",
                "status": meta["status"],
                "result": meta["result"],
                "metadata": meta.get("metadata"),
                "date_done": meta["date_done"].isoformat() if isinstance(meta["date_done"], datetime) else meta["date_done"],
            }
        )
    json.dump({"celery": celery.__version__, "targets": answers}, sys.stdout)


if __name__ == "__main__":
    main()
