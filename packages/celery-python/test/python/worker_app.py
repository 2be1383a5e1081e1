"""The app of a real ``celery worker`` for the end-to-end tests (started by
@resultstore/celery-interop's startCeleryWorker with ``app.module = "worker_app"``): results go to
``result_backend = "resultstore+<url>"``, resolved through the installed entry point.

    RESULTSTORE_CELERY_WORKER='{"url": "<url>", "broker": "redis://…", "settings": {…}}'
"""

import json
import os

from celery import Celery

_request = json.loads(os.environ["RESULTSTORE_CELERY_WORKER"])
app = Celery("resultstore-e2e")
app.conf.update(
    result_backend=f"resultstore+{_request['url']}",
    broker_url=_request["broker"],
    **_request.get("settings", {}),
)


@app.task(name="e2e.add")
def add(x, y):
    return x + y


@app.task(name="e2e.total")
def total(values):
    return sum(values)


@app.task(name="e2e.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="e2e.retry", bind=True, max_retries=1)
def retry(self):
    # Stores RETRY, then the retry waits an hour: the test only looks at the RETRY write.
    raise self.retry(countdown=3600, exc=RuntimeError("try again"))
