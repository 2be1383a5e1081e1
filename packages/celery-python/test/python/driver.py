"""Test driver: runs one JSON request (stdin) of ops through a Celery app whose result backend is
``resultstore+<url>``, resolved through the installed ``celery.result_backends`` entry point, and
prints one JSON answer per op (stdout).

    {"url": "mongodb://…", "settings": {...}, "ops": [{"op": "store", ...}, ...]}
"""

import json
import sys
from datetime import datetime

from celery import Celery
from celery.app.task import Context


def make_app(url, settings):
    app = Celery("resultstore-driver", set_as_current=True)
    app.conf.update(result_backend=f"resultstore+{url}", **(settings or {}))
    return app


def request_of(app, spec):
    """A worker request (Celery's Context) from the test's JSON."""
    if spec is None:
        return None
    request = Context(
        id=spec.get("id"),
        task=spec.get("name"),
        args=spec.get("args"),
        kwargs=spec.get("kwargs"),
        hostname=spec.get("worker"),
        retries=spec.get("retries"),
        delivery_info={"routing_key": spec.get("queue")},
        group=spec.get("groupId"),
        parent_id=spec.get("parentId"),
    )
    # As a task that called apply_async: `children` is a property over the request's own list.
    request.children.extend(app.AsyncResult(child) for child in spec.get("children", []))
    return request


def jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, BaseException):
        return {"exception": type(value).__name__, "args": [jsonable(a) for a in value.args]}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def run(app, op):
    backend = app.backend
    kind = op["op"]
    if kind == "backend":
        cls = type(backend)
        return f"{cls.__module__}.{cls.__qualname__}"
    if kind == "store":
        result = op.get("result")
        if "exception" in op:
            result = getattr(__import__("builtins"), op["exception"][0])(*op["exception"][1:])
        extra = {"metadata": op["metadata"]} if "metadata" in op else {}
        backend.store_result(
            op["task_id"],
            result,
            op["state"],
            traceback=op.get("traceback"),
            request=request_of(app, op.get("request")),
            **extra,
        )
        return None
    if kind == "queued":
        from resultstore_celery import mark_queued

        mark_queued(
            backend,
            op["task_id"],
            metadata=op.get("metadata"),
            name=op.get("name"),
            args=op.get("args"),
            kwargs=op.get("kwargs"),
            queue=op.get("queue"),
        )
        return None
    if kind == "meta":
        return jsonable(backend.get_task_meta(op["task_id"], cache=False))
    if kind == "incr":
        return backend.incr(op["key"], op.get("by", 1))
    if kind == "race":
        # Threads writing PROGRESS with a metadata key each, all at once: a merge that is not
        # atomic on the server loses keys (or a value) under this.
        import threading

        errors = []

        def writer(i):
            try:
                for j in range(op["rounds"]):
                    backend.store_result(op["task_id"], j, "PROGRESS", metadata={f"t{i}": j})
            except Exception as exc:  # reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(op["threads"])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise RuntimeError("; ".join(errors))
        return None
    if kind == "publish":
        # A Python producer: record_queued_on_publish records QUEUED with the header's metadata.
        from resultstore_celery import record_queued_on_publish

        record_queued_on_publish(app)
        result = app.send_task(
            op["name"], args=op.get("args", []), queue=op["queue"], headers={"resultstore_metadata": op["metadata"]}
        )
        return result.id
    if kind == "chord":
        from celery import chord

        header = [app.signature("e2e.add", args=members, queue=op["queue"]) for members in op["members"]]
        result = chord(header)(app.signature("e2e.total", queue=op["queue"]))
        return {"id": result.id, "group": result.parent.id if result.parent else None}
    raise ValueError(f"unknown op {kind}")


def main():
    request = json.load(sys.stdin)
    app = make_app(request["url"], request.get("settings"))
    answers = []
    for op in request["ops"]:
        try:
            answers.append(run(app, op))
        except Exception as exc:  # reported per op, so a test can assert on typed errors
            answers.append({"error": {"type": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}})
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
