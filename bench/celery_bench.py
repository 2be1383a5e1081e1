#!/usr/bin/env python3
"""Celery's own result backend under load, for bench/all.mjs: one process per backend, driven by
JSON lines on stdin (one answer line each on stdout). The backend is configured exactly as the
interop peer configures it (interop/celery/peer.py `setup`, incl. the Cosmos https subclass).

    {"cmd": "setup", "url": ..., "settings": {...}}       -> {"celery", "backend", "incr", "many"}
    {"cmd": "prepare", "ids": [...], "width": 64}          -> stores SUCCESS for each id
    {"cmd": "teardown"}                                    -> drops this run's table/index/prefix
    {"cmd": "measure", "op": ..., "ids": [...], "count", "width", "max_seconds"}
        -> {"opsPerSec", "p50", "p99", "ops"} or {"error"}

A measure runs `width` threads (a thread pool, as a Celery worker's threads would share one
backend) until `count` ops were issued or `max_seconds` passed. Ops: store (SUCCESS of a new id),
lifecycle (QUEUED, STARTED, SUCCESS of one id), refused (a late STARTED on a SUCCESS id), get
(get_task_meta), getMany (get_many of 100 ids), incr (backends with implements_incr).
"""
import itertools
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "celery"))
import peer  # noqa: E402  (swaps sys.stdout for stderr; answers go to peer._REAL_STDOUT)

PAYLOAD = {"rows": [{"i": i, "name": f"row {i}", "ok": True} for i in range(10)]}
STARTED_INFO = {"pid": os.getpid(), "hostname": "bench"}


def ops_for(backend):
    def store(ids, i):
        backend.store_result(ids[i], PAYLOAD, "SUCCESS")

    def lifecycle(ids, i):
        backend.store_result(ids[i], None, "QUEUED")
        backend.store_result(ids[i], STARTED_INFO, "STARTED")
        backend.store_result(ids[i], PAYLOAD, "SUCCESS")

    def refused(ids, i):
        backend.store_result(ids[i % len(ids)], STARTED_INFO, "STARTED")

    def get(ids, i):
        backend.get_task_meta(ids[i % len(ids)])

    def get_many(ids, i):
        # interval=0: Celery's default 0.5 s sleep after the first pass would dominate.
        got = list(backend.get_many(ids, timeout=10, interval=0))
        if len(got) != len(ids):
            raise RuntimeError(f"get_many returned {len(got)} of {len(ids)}")

    def incr(ids, i):
        backend.incr(ids[0])

    def init_counter(key):
        # As Celery's _apply_chord_incr: DynamoDB's counter item must exist before incr.
        backend.client.put_item(**backend._prepare_init_count_request(str(key)))

    ops = {"store": store, "lifecycle": lifecycle, "refused": refused, "get": get}
    if hasattr(backend, "get_many") and hasattr(backend, "mget"):
        ops["getMany"] = get_many
    if getattr(backend, "implements_incr", False):
        ops["incr"] = incr
        if hasattr(backend, "_prepare_init_count_request"):
            ops["init_counter"] = init_counter
    return ops


def run(fn, ids, count, width, max_seconds):
    counter = itertools.count()
    deadline = time.perf_counter() + max_seconds
    latencies = []
    errors = []
    lock = threading.Lock()

    def worker():
        local = []
        while not errors:
            i = next(counter)
            if i >= count or time.perf_counter() >= deadline:
                break
            t0 = time.perf_counter()
            try:
                fn(ids, i)
            except Exception as exc:  # one failure fails the sample, as in measure.mjs
                errors.append(f"{type(exc).__name__}: {exc}")
                break
            local.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(max(1, min(width, count)))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if errors:
        return {"error": errors[0][:300]}
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]  # noqa: E731
    return {"opsPerSec": len(latencies) / seconds, "p50": pct(0.5), "p99": pct(0.99),
            "ops": len(latencies)}


def teardown(backend, request):
    """Drops what this run created (its own namespace), nothing else."""
    name = type(backend).__name__
    if "Mongo" in name:
        backend.collection.drop()
        backend.group_collection.drop()
    elif "Cassandra" in name:
        backend._get_connection()
        backend._session.execute('DROP KEYSPACE IF EXISTS "%s"' % backend.keyspace)
    elif "DynamoDB" in name:
        backend.client.delete_table(TableName=backend.table_name)
    elif "Elasticsearch" in name:
        backend.server.indices.delete(index=backend.index, ignore_unavailable=True)
    elif "Consul" in name:
        backend.client().kv.delete(backend.path, recurse=True)
    elif "Cosmos" in name:
        backend._client.DeleteCollection(backend._collection_link)


def main():
    import celery

    backend = None
    ops = {}
    for line in sys.stdin:
        request = json.loads(line)
        cmd = request["cmd"]
        try:
            if cmd == "setup":
                _, backend = peer.setup(request)
                ops = ops_for(backend)
                answer = {"celery": celery.__version__, "backend": type(backend).__name__,
                          "ops": sorted(op for op in ops if op != "init_counter")}
            elif cmd == "prepare":
                answer = run(ops["store"], request["ids"], len(request["ids"]),
                             request.get("width", 64), 3600)
            elif cmd == "teardown":
                teardown(backend, request)
                answer = {}
            elif cmd == "measure":
                fn = ops.get(request["op"])
                if request["op"] == "incr" and "init_counter" in ops:
                    ops["init_counter"](request["ids"][0])
                answer = (run(fn, request["ids"], request["count"], request["width"],
                              request["max_seconds"])
                          if fn else {"error": "not in Celery's backend"})
            else:
                answer = {"error": f"unknown cmd {cmd}"}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        peer._REAL_STDOUT.write(json.dumps(answer) + "\n")
        peer._REAL_STDOUT.flush()
    sys.stderr.flush()
    os._exit(0)  # drivers (cassandra) may keep non-daemon threads


if __name__ == "__main__":
    main()
