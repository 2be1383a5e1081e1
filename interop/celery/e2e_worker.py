"""A real Celery worker for the end-to-end tests (started by @resultstore/celery-interop's
startCeleryWorker): Celery's own worker, consuming from a Redis broker and storing results with
Celery's own result backend, configured exactly as peer.py configures it for the same URL.

    RESULTSTORE_CELERY_WORKER='{"url": "<result_backend>", "broker": "redis://...", "settings": {...},
                                "peer": {...}}' \\
      python -m celery -A e2e_worker worker --pool=solo -Q <queue> ...

The tasks are the smallest that show what a worker writes: a value, and a raised exception.
"""
import json
import os

import peer

_request = json.loads(os.environ["RESULTSTORE_CELERY_WORKER"])
app, _backend = peer.setup(_request)
if _backend is not app.backend:
    # Cosmos: peer.py's HTTPS subclass of Celery's CosmosDBSQLBackend (see its docstring), which
    # the worker must use for every store. The solo pool runs tasks in this thread.
    app._backend = _backend


@app.task(name="e2e.add")
def add(x, y):
    return x + y


@app.task(name="e2e.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="e2e.request_attribute", bind=True)
def request_attribute(self, name):
    """`getattr(task.request, name)`: where Celery's OpenTelemetry instrumentation reads the trace
    context (`traceparent`) that a producer put in the message headers."""
    return getattr(self.request, name, None)
