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


#: The values each run of the chord callback ``driver.collect`` got, in this process.
COLLECTED = []


def make_app(url, settings):
    app = Celery("resultstore-driver", set_as_current=True)
    app.conf.update(result_backend=f"resultstore+{url}", **(settings or {}))

    @app.task(name="driver.collect")
    def collect(values):
        COLLECTED.append(values)
        return values

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
        return publish_chord(app, op)
    if kind == "save_group":
        app.GroupResult(op["group_id"], [app.AsyncResult(m) for m in op["members"]]).save(backend=backend)
        return None
    if kind == "chord_part":
        # One finished member, as a worker reports it after storing the member's result; the
        # callback (driver.collect, frozen as `body_id`) runs eagerly here and stores its result.
        app.conf.update(task_always_eager=True, task_store_eager_result=True)
        body = app.signature("driver.collect")
        body.freeze(op["body_id"])
        request = Context(id=op["task_id"], group=op["group_id"], chord=dict(body))
        backend.on_chord_part_return(request, op.get("state", "SUCCESS"), None)
        return None
    if kind == "collected":
        return COLLECTED
    raise ValueError(f"unknown op {kind}")


def publish_chord(app, op):
    """``chord(e2e.add(*m) for m in members)(e2e.total)``; ``fail`` (a member's index) makes that
    member ``e2e.fail("boom")``. ``last_countdown`` holds the last
    member back that many seconds; ``duplicate`` (a member's index) publishes that member's
    message a second time, right after the chord: what a redelivery is to the worker."""
    from celery import chord
    from celery.signals import before_task_publish

    header = [app.signature("e2e.add", args=members, queue=op["queue"]) for members in op["members"]]
    if op.get("fail") is not None:
        header[op["fail"]] = app.signature("e2e.fail", args=["boom"], queue=op["queue"])
    if op.get("last_countdown"):
        header[-1].set(countdown=op["last_countdown"])
    messages = {}

    def capture(sender=None, body=None, headers=None, **extra):
        if headers and headers.get("group") and headers.get("group_index") == op.get("duplicate"):
            messages.setdefault("member", (sender, body, headers))

    before_task_publish.connect(capture, weak=False)
    try:
        result = chord(header)(app.signature("e2e.total", queue=op["queue"]))
    finally:
        before_task_publish.disconnect(capture)
    if op.get("duplicate") is not None:
        name, (args, kwargs, embed), headers = messages["member"]
        app.send_task(
            name,
            args=args,
            kwargs=kwargs,
            task_id=headers["id"],
            group_id=headers["group"],
            group_index=headers["group_index"],
            chord=embed["chord"],
            root_id=headers["root_id"],
            parent_id=headers["parent_id"],
            queue=op["queue"],
        )
    return {"id": result.id, "group": result.parent.id if result.parent else None}


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
