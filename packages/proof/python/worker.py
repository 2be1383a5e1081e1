"""One Python client process of the proof's workload (packages/proof/src/worker.ts is the Node one).

It writes through resultstore-celery: the backend class Celery loads for
``result_backend = "resultstore+<url>"``, taken from a Celery app exactly as a worker gets it
(``app.backend``) and called directly, as a Celery worker calls it: ``store_result`` (with
``metadata=``), ``resultstore_celery.mark_queued``, ``get_task_meta``, ``incr``, ``forget`` and
``cleanup``. It runs the Node worker's lanes with the Node worker's numbers (the ``workload`` of its
config is worker.ts's WORKLOAD) and writes the same JSON-lines history, checked by the same checker:

- lifecycles (QUEUED with metadata and args, STARTED, a ready state or RETRY, duplicate and late
  deliveries, expiring tasks over reused ids, forget and re-creation where Celery's backend can
  forget: Celery's Cassandra backend cannot);
- hot ids (every process merges its own metadata keys into the same ids, and reads them);
- counters (lasting ones, and bursts on expiring ones), without chords: the Node processes
  deliver every chord member (PROOF.md says why);
- cleanup, in the process the runner names.

A lane is a thread; each call runs in a thread of its own, so that a call still running after
``callTimeoutMs`` is recorded as indeterminate and left running, as the Node worker does.

What each outcome means (PROOF.md, "Mixed fleets"):

- applied / refused: resultstore-celery refuses a write by the state rules without raising; it logs
  the refusal at INFO on the ``resultstore_celery`` logger (its README's contract), from the
  calling thread. A write that returned and logged no refusal was applied.
- an exception is ``definite`` (the call had no effect) only when no byte of the call left this
  process: every way the drivers send (``socket`` and ``ssl`` sends from the call's thread, and
  cassandra-driver's ``Connection.send_msg``, whose I/O thread writes what the calling thread
  queued) is watched, per call. A TLS handshake's own bytes (written by the ssl module's C code)
  are not a request. Anything else may have landed: indeterminate. So is a timeout.
- ``typed``: the exception is one a caller is meant to handle: resultstore-celery's
  ``ResultStoreError``, Celery's backend errors, or the database client's own exceptions (and the
  socket layer's ``OSError``), which is what Celery's ``exception_safe_to_retry`` inspects. Any
  other (``KeyError``, ``TypeError``, ``RuntimeError``, ...) is a bug showing: ``untyped-error``.

    python worker.py '<config as JSON>'   (deadlines arrive on stdin: "deadline:<epoch ms>")
"""

import json
import logging
import os
import random
import socket
import ssl
import sys
import threading
import time
import warnings

from celery import Celery
from celery.exceptions import TaskRevokedError

#: Modules whose exceptions are failures a caller is meant to handle (see the docstring).
TYPED_MODULES = frozenset(
    {
        "resultstore_celery",
        "celery",
        "kombu",
        "pymongo",
        "bson",
        "cassandra",
        "botocore",
        "boto3",
        "elasticsearch",
        "elastic_transport",
        "requests",
        "urllib3",
        "consul",
        "pydocumentdb",
    }
)
#: Error texts are cut here, as the Node worker cuts them (secrets beyond are kept, see describe).
TEXT_LIMIT = 8000
#: The task id the warm-up reads, which no history names.
WARM_UP_ID = "proof-warm-up"

now_ms = lambda: int(time.time() * 1000)  # noqa: E731 - one clock with the Node processes


# --- what a call did: sent anything? refused? (per call thread) --------------------------------

_call = threading.local()


def _note_send() -> None:
    if getattr(_call, "watching", False):
        _call.sent = True


def _watch(cls: type, name: str) -> None:
    original = getattr(cls, name)

    def sending(self, *args, **kwargs):
        _note_send()  # before the bytes go: a send that then fails may have sent some
        return original(self, *args, **kwargs)

    setattr(cls, name, sending)


def watch_sends(scheme: str) -> None:
    """Notes, per call, whether any request of it may have left the process."""
    for name in ("send", "sendall", "sendto", "sendmsg"):
        _watch(socket.socket, name)
    for name in ("send", "sendall", "write"):  # SSLSocket overrides them
        _watch(ssl.SSLSocket, name)
    if scheme == "cassandra":
        # The driver's I/O thread writes the socket; the calling thread queues the request here.
        from cassandra.connection import Connection

        _watch(Connection, "send_msg")


class RefusalWatch(logging.Handler):
    """resultstore-celery logs every refused write at INFO, in the thread that made the call."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_call, "watching", False) and "refused" in str(record.msg):
            _call.refused = True


def watch_refusals() -> None:
    logger = logging.getLogger("resultstore_celery")
    logger.setLevel(logging.INFO)
    logger.addHandler(RefusalWatch(logging.INFO))
    logger.propagate = False  # thousands of refusals: not for stderr


class Outcome:
    def __init__(self, value=None, error=None, refused=False):
        self.value = value
        self.error = error
        self.refused = refused


# --- errors as the history records them (history.ts ErrorInfo) ---------------------------------


def qualified(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def is_typed(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return True
    return any(c.__module__.split(".")[0] in TYPED_MODULES for c in type(exc).__mro__[:-2])


def _text(exc: BaseException, depth: int = 0) -> str:
    """The message, the exception's own attributes and its causes, as a caller could read them."""
    parts = [f"{qualified(exc)}: {exc}"]
    attributes = {k: v for k, v in getattr(exc, "__dict__", {}).items() if not k.startswith("__")}
    if attributes:
        shown = ", ".join(f"{k}={_short_repr(v)}" for k, v in attributes.items())
        parts.append(f"{{{shown}}}")
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and depth < 6:
        parts.append(f"caused by {_text(cause, depth + 1)}")
    return " ".join(parts)


def _short_repr(value) -> str:
    try:
        return repr(value)[:2000]
    except Exception as exc:  # a broken __repr__ must not lose the error
        return f"<unrepresentable {type(value).__name__}: {exc}>"


def describe(exc: BaseException, secret_forms) -> dict:
    full = _text(exc)
    text = full[:TEXT_LIMIT]
    # Keep any secret (in any of its forms) that the cut would hide, so the checker sees it.
    for form in secret_forms:
        at = full.find(form)
        if at >= TEXT_LIMIT:
            text += f" …{full[max(0, at - 100):at + len(form) + 100]}"
    return {"name": qualified(exc), "typed": is_typed(exc), "text": text}


TIMEOUT = {"name": "Timeout", "typed": True, "timeout": True, "text": "the client stopped waiting"}


def run_call(call, timeout_s: float, secret_forms=()) -> Outcome:
    """Runs ``call`` in a thread of its own, watching what it sends and whether a write is refused;
    after ``timeout_s`` it is left running and the outcome is a timeout (indeterminate)."""
    box = {}
    done = threading.Event()

    def body():
        _call.watching, _call.sent, _call.refused = True, False, False
        try:
            box["value"] = call()
        except BaseException as exc:  # recorded: the checker judges it
            box["exc"] = exc
        box["sent"], box["refused"] = _call.sent, _call.refused
        done.set()

    threading.Thread(target=body, daemon=True).start()
    if not done.wait(timeout_s):
        return Outcome(error=dict(TIMEOUT))
    exc = box.get("exc")
    if exc is not None:
        error = describe(exc, secret_forms)
        if not box["sent"]:
            error["definite"] = True
        return Outcome(error=error)
    return Outcome(value=box.get("value"), refused=box["refused"])


# --- helpers as in worker.ts --------------------------------------------------------------------


def clone(value):
    return None if value is None else json.loads(json.dumps(value))


def mutate_nested(value) -> None:
    """Changes every nested dict and list inside ``value`` (worker.ts mutateNested)."""
    if isinstance(value, list):
        value.append("mutated")
    elif isinstance(value, dict):
        for item in list(value.values()):
            mutate_nested(item)
        if "flag" in value:
            value["flag"] = "mutated"


def jsonable(value):
    """A read's result as JSON: an exception Celery rebuilt goes back to Celery's stored form."""
    if isinstance(value, BaseException):
        return {
            "exc_type": type(value).__name__,
            "exc_message": [jsonable(a) for a in value.args],
            "exc_module": type(value).__module__,
        }
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class History:
    """JSON lines, as history.ts HistoryWriter writes them (flushed every 200 events)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.buffer = []

    def add(self, event: dict) -> None:
        line = json.dumps(event, separators=(",", ":"), default=str)
        with self.lock:
            self.buffer.append(line)
            if len(self.buffer) >= 200:
                self._flush()

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        if self.buffer:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n".join(self.buffer) + "\n")
            self.buffer = []


# --- the worker ---------------------------------------------------------------------------------


class Worker:
    def __init__(self, config: dict, store, expiring, expiring_tasks) -> None:
        self.config = config
        self.p = config["p"]
        self.processes = config["processes"]
        self.workload = config["workload"]
        self.chance_of = self.workload["chance"]
        self.store = store
        self.expiring = expiring
        self.expiring_tasks = expiring_tasks
        self.history = History(config["historyFile"])
        self.deadline = config["deadline"]
        self.task_expires_ms = config["taskExpiresMs"]
        self.timeout_s = config["callTimeoutMs"] / 1000
        self.secret_forms = config["secretForms"]
        self.seq = 0
        self.tasks = 0
        self.expiring_seq = 0
        self.lock = threading.Lock()
        # Celery's Cassandra backend has no forget (BaseBackend._forget raises NotImplementedError).
        self.can_forget = _can_forget(store)

    @property
    def running(self) -> bool:
        return now_ms() < self.deadline

    def next_seq(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def chance(self, name: str) -> bool:
        return random.random() < self.chance_of[name]

    def record(self, event: dict) -> None:
        """Records a finished call; after a call that reached no server, the lane backs off."""
        self.history.add(event)
        if event.get("error", {}).get("definite"):
            time.sleep(self.workload["unreachablePauseMs"] / 1000)

    def timed(self, call) -> Outcome:
        return run_call(call, self.timeout_s, self.secret_forms)

    # --- calls ------------------------------------------------------------------------------

    def write(self, task_id: str, status: str, result=None, store=None) -> dict:
        store = store or self.store
        n = self.next_seq()
        meta_key = f"p{self.p}_{n}"
        # Every third value nests objects and arrays, as the Node worker's.
        value = {"n": n, "deep": {"tags": ["a", n], "flag": True}} if n % 3 == 0 else n
        metadata = {meta_key: value}
        args = [n, {"deep": [n]}]
        event = {
            "type": "write",
            "p": self.p,
            "id": task_id,
            "status": status,
            "metaKey": meta_key,
            "metaValue": clone(value),
            "start": now_ms(),
            "end": 0,
        }
        if store is not self.store:
            event["expiresMs"] = self.task_expires_ms
        if status == "QUEUED":
            event["args"] = clone(args)
        if status == "SUCCESS":
            event["result"] = clone(result)

        def call():
            if status == "QUEUED":
                from resultstore_celery import mark_queued

                return mark_queued(store, task_id, metadata=metadata, name="proof.task", args=args)
            if status == "STARTED":
                return store.store_result(task_id, {"pid": os.getpid(), "p": self.p}, status, metadata=metadata)
            if status == "SUCCESS":
                return store.store_result(task_id, result, status, metadata=metadata)
            if status == "FAILURE":
                return store.store_result(task_id, RuntimeError(f"failed {n}"), status, metadata=metadata)
            if status == "RETRY":
                return store.store_result(task_id, RuntimeError(f"retry {n}"), status, metadata=metadata)
            if status == "REVOKED":
                return store.store_result(task_id, TaskRevokedError("terminated"), status, metadata=metadata)
            return store.store_result(task_id, {"step": n}, status, metadata=metadata)

        outcome = self.timed(call)
        event["end"] = now_ms()
        if outcome.error:
            event["error"] = outcome.error
        else:
            event["applied"] = not outcome.refused
        self.record(event)
        if outcome.error is None or not outcome.error.get("timeout"):
            # The caller reuses what it passed (worker.ts does the same). Not after a timeout: the
            # call is still running with these objects, which a synchronous Python caller never sees.
            metadata[f"mutated_{meta_key}"] = "by the writer"
            mutate_nested(value)
            mutate_nested(args)
            if isinstance(result, dict):
                result["mutated"] = True
        return event

    def forget(self, task_id: str) -> None:
        event = {"type": "forget", "p": self.p, "id": task_id, "start": now_ms(), "end": 0}
        outcome = self.timed(lambda: self.store.forget(task_id))
        event["end"] = now_ms()
        if outcome.error:
            event["error"] = outcome.error
        self.record(event)

    def cleanups(self) -> None:
        while self.running:
            time.sleep((self.workload["cleanupMs"] + random.random() * self.workload["cleanupJitterMs"]) / 1000)
            if not self.running:
                break
            event = {"type": "cleanup", "p": self.p, "start": now_ms(), "end": 0}
            outcome = self.timed(self.store.cleanup)
            event["end"] = now_ms()
            if outcome.error:
                event["error"] = outcome.error
            self.record(event)

    def read(self, ids) -> None:
        """One id, or several read one after another within one recorded call (Celery's
        ``get_many`` is a key-value backends' polling API without the merged metadata)."""
        event = {"type": "read", "p": self.p, "ids": list(ids), "start": now_ms(), "end": 0}
        # cache=False: Celery's result cache would answer a SUCCESS it read before, whatever the
        # store holds now (forgotten, expired); the proof reads the store.
        outcome = self.timed(lambda: [self.store.get_task_meta(i, cache=False) for i in ids])
        event["end"] = now_ms()
        if outcome.error:
            event["error"] = outcome.error
        else:
            states = []
            for meta in outcome.value:
                state = {
                    "status": meta.get("status"),
                    "result": jsonable(meta.get("result")),
                    "metadata": jsonable(meta.get("metadata") or {}),
                }
                if meta.get("args") is not None:
                    state["args"] = jsonable(meta.get("args"))
                states.append(state)
            event["states"] = states
        self.record(event)
        # The caller changes what it was given: no later read or write may show it.
        for meta in outcome.value or []:
            metadata = meta.get("metadata")
            if isinstance(metadata, dict):
                metadata[f"mutated_by_reader_p{self.p}"] = self.next_seq()
                for item in list(metadata.values()):
                    mutate_nested(item)
            mutate_nested(meta.get("args"))
            if isinstance(meta.get("result"), dict):
                meta["result"]["mutated"] = True

    def incr(self, key: str, expiring: bool) -> None:
        by = random.choice(self.workload["steps"])
        event = {
            "type": "incr",
            "p": self.p,
            "key": key,
            "expiring": expiring,
            "by": by,
            "start": now_ms(),
            "end": 0,
        }
        store = self.expiring if expiring else self.store
        outcome = self.timed(lambda: store.incr(key, by))
        event["end"] = now_ms()
        if outcome.error:
            event["error"] = outcome.error
        else:
            event["value"] = outcome.value
        self.record(event)

    def success_result(self) -> dict:
        return {"p": self.p, "n": self.next_seq()}

    # --- lanes --------------------------------------------------------------------------------

    def lifecycles(self) -> None:
        p, processes = self.p, self.processes
        while self.running:
            if self.chance("expiringLifecycle"):
                # A few reused ids on the expiring store: each lifecycle finds its id expired (then
                # it re-creates it) or still ready (then its writes are refused).
                self.expiring_seq += 1
                self.lifecycle(f"x{p}-{self.expiring_seq % self.workload['expiringIds']}", self.expiring_tasks)
                continue
            self.tasks += 1
            task_id = f"t{p}-{self.tasks}"
            ready = self.lifecycle(task_id, self.store)
            if self.chance("duplicateDelivery"):
                again = random.choice(["STARTED", ready])
                self.write(task_id, again, self.success_result() if again == "SUCCESS" else None)
            if self.chance("forget") and self.can_forget:
                self.forget(task_id)
                self.read([task_id])
                if self.chance("rerunForgotten"):
                    self.lifecycle(task_id, self.store)
            if self.chance("lateMessage") and processes > 1:
                # A late message for another process's task, which may not exist yet (or any more).
                other = (p + 1 + random.randrange(processes - 1)) % processes
                late = f"t{other}-{1 + random.randrange(self.tasks)}"
                state = random.choice(self.workload["lateStates"])
                self.write(late, state, self.success_result() if state == "SUCCESS" else None)
                self.read([late])

    def lifecycle(self, task_id: str, store) -> str:
        self.write(task_id, "QUEUED", None, store)
        if self.chance("queuedTwice"):
            self.write(task_id, "QUEUED", None, store)
        self.write(task_id, "STARTED", None, store)
        ready = random.choice(self.workload["readyStates"])
        if ready == "RETRY":
            self.write(task_id, "RETRY", None, store)
            self.write(task_id, "STARTED", None, store)
            ready = random.choice(self.workload["afterRetry"])
        self.write(task_id, ready, self.success_result() if ready == "SUCCESS" else None, store)
        self.read([task_id])
        return ready

    def hot_ids(self) -> None:
        while self.running:
            window = now_ms() // self.workload["hotWindowMs"]
            ids = [f"h{window}-{k}" for k in range(self.workload["hotIds"])]
            task_id = random.choice(ids)
            roll = random.random()
            state = next((s for bound, s in self.workload["hotStates"] if roll < bound), "STARTED")
            self.write(task_id, state, self.success_result() if state == "SUCCESS" else None)
            if self.chance("hotRead"):
                self.read([task_id] if self.chance("hotReadOne") else ids)

    def counters(self) -> None:
        cycle = self.config["counterExpiresMs"] + self.workload["burstGapMs"]
        while self.running:
            self.incr(f"c{random.randrange(self.workload['lastingCounters'])}", False)
            if now_ms() % cycle < self.workload["burstMs"]:
                self.incr(f"e{random.randrange(self.workload['expiringCounters'])}", True)

    def run(self) -> None:
        lanes = [self.lifecycles, self.hot_ids, self.counters]
        if self.config["cleanup"]:
            lanes.append(self.cleanups)
        threads = [threading.Thread(target=self._lane, args=(lane,), daemon=True) for lane in lanes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.history.flush()

    def _lane(self, lane) -> None:
        try:
            lane()
        except BaseException:
            # A lane that dies is a bug of this worker, not of the store: fail the process loudly.
            logging.getLogger("proof").exception("lane %s failed", lane.__name__)
            self.history.flush()
            os._exit(1)


def _can_forget(backend) -> bool:
    from celery.backends.base import BaseBackend

    return type(backend)._forget is not BaseBackend._forget


def open_backend(config: dict, expires_s) -> object:
    """The backend Celery loads for ``resultstore+<url>`` (``app.backend``), with ``expires_s``
    as ``result_expires`` (None: Celery's default, one day, as the Node store's)."""
    celery = config["celery"]
    app = Celery(f"proof-p{config['p']}", set_as_current=False)
    app.conf.update(
        result_backend=f"resultstore+{celery['url']}",
        result_extended=True,
        result_serializer="json",
        accept_content=["json"],
        # Half the clients retry transient failures, as the Node ones (Celery retries only what
        # the backend's exception_safe_to_retry allows: Elasticsearch's transport errors).
        result_backend_always_retry=config["alwaysRetry"],
        **({"result_expires": expires_s} if expires_s is not None else {}),
        **celery["settings"],
    )
    # app.backend is per thread; the lanes and their call threads share this one, as the Node
    # worker's lanes share its backend.
    return app.backend


def follow_deadlines(worker: Worker) -> None:
    """The runner moves the deadline over stdin; end of input means the runner is gone: stop."""
    for line in sys.stdin:
        if line.startswith("deadline:"):
            worker.deadline = int(line[len("deadline:"):])
    worker.deadline = min(worker.deadline, now_ms())


def main() -> None:
    config = json.loads(sys.argv[1])
    # The drivers log every retry and reconnection; the history has every failure a call met.
    logging.basicConfig(level=logging.ERROR, format=f"[python p{config['p']}] %(name)s: %(message)s")
    logging.getLogger("proof").setLevel(logging.WARNING)
    # pydocumentdb does not verify TLS for 127.0.0.1 (resultstore-celery's README says so); urllib3
    # would warn on every Cosmos DB call.
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    scheme = config["celery"]["url"].split("://")[0].split("+")[0]
    watch_sends(scheme)
    watch_refusals()
    store = open_backend(config, None)
    expiring = open_backend(config, config["counterExpiresMs"] / 1000)
    expiring_tasks = open_backend(config, config["taskExpiresMs"] / 1000)
    # Connect (and let each backend prepare what it prepares on first use) before the clock starts.
    for backend in (store, expiring, expiring_tasks):
        try:
            backend.get_task_meta(WARM_UP_ID, cache=False)
        except Exception as exc:  # the run records what the calls meet; this is not one of them
            logging.getLogger("proof").warning("warm-up read failed: %s", describe(exc, [])["text"][:500])
    worker = Worker(config, store, expiring, expiring_tasks)
    threading.Thread(target=follow_deadlines, args=(worker,), daemon=True).start()
    print("ready", flush=True)
    worker.run()
    sys.stdout.flush()
    # Calls left running (a server still down) and drivers' threads must not keep this alive.
    os._exit(0)


if __name__ == "__main__":
    main()
