#!/usr/bin/env python3
"""Celery peer for interop tests: drives Celery's OWN result backends.

Reads one JSON request on stdin, prints one JSON answer on stdout:

    request = {
      "url": "<Celery result_backend URL>",
      "broker": "<Celery broker_url>" (optional; memory:// by default),
      "settings": {<extra Celery conf: cassandra_keyspace, result_extended, ...>},
      "peer": {<peer-only options, see below>},
      "ops": [ {"op": "store", ...}, {"op": "read", ...}, ... ]
    }
    answer  = {"celery": "<version>", "backend": "<class>", "results": [<one per op>]}

An op that raises gives {"error": {"type", "module", "message", "status_code"?, "traceback"}} in
its slot and the next ops still run. Nothing but the answer goes to stdout (Celery's and the
drivers' own output goes to stderr).

Ops
  store   {"task_id", "state", "result", "exception"?: {"type","module","args"}, "traceback"?,
           "request"?: {"name","args","kwargs","hostname","retries","delivery_info":{"routing_key"},
                        "group","parent_id","children":[<task ids>], "id"?}}
          -> backend.store_result(...) return value (the encoded result), JSON-converted.
  read    {"task_id"} -> backend.get_task_meta(task_id) (cache cleared first) as JSON, plus
          "date_done_type" (Python type name) and "async_result": {state, result, date_done,
          traceback} read through celery.result.AsyncResult.
  raw     {"task_id"} -> the stored record through the backend's own client (see _raw_*).
  forget  {"task_id"} -> backend.forget(task_id)
  save_group    {"group_id", "task_ids": [...]} -> backend.save_group(...)
  restore_group {"group_id"} -> backend.restore_group(...) as {"group_id", "task_ids", ...}
  delete_group  {"group_id"}
  raw_group     {"group_id"} -> stored group record (KV backends and MongoDB)
  send_task     {"name", "task_id", "args"?, "kwargs"?, "queue"?} -> app.send_task(...).id: the
                message Celery's own client publishes, on the request's "broker" (e.g. redis://)

Peer-only options ("peer"):
  cosmos_https (default true): Celery's CosmosDBSQLBackend builds "http://host:port" for every
      port except 443. The peer uses a subclass that keeps the scheme https on any port, and
      makes pydocumentdb VERIFY the server certificate against the CA file named by
      "cosmos_ca" / $RESULTSTORE_COSMOS_CA / $REQUESTS_CA_BUNDLE. (Unpatched pydocumentdb
      silently turns verification OFF for hosts "localhost"/"127.0.0.1".)
  cosmos_missing_500_is_404 (default true): treat the local emulator's 500 for a read of a
      missing document as 404 (see HttpsCosmosDBSQLBackend.get).
  cassandra_create_keyspace (default true): create settings.cassandra_keyspace
      (SimpleStrategy, RF 1) when missing - Celery never creates keyspaces.
"""
import base64
import datetime
import importlib
import json
import os
import sys
import traceback as tb_mod

_REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr  # keep stdout clean for the answer


def _to_json(value, backend=None):
    """Best-effort JSON conversion of what Celery hands back."""
    from celery.result import AsyncResult, GroupResult, ResultSet

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseException):
        if backend is not None:
            d = backend.prepare_exception(value, serializer="json")
            return {"exc_type": d["exc_type"], "exc_message": _to_json(d["exc_message"]),
                    "exc_module": d["exc_module"]}
        return {"exc_type": type(value).__qualname__, "exc_message": _to_json(list(value.args)),
                "exc_module": type(value).__module__}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(b).decode("ascii")}
    if isinstance(value, (GroupResult, AsyncResult, ResultSet)) and hasattr(value, "as_tuple"):
        return _to_json(value.as_tuple())
    if isinstance(value, dict):
        return {str(_to_json(k)) if not isinstance(k, str) else k: _to_json(v, backend)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_to_json(v, backend) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def _error_json(exc):
    err = {"type": type(exc).__qualname__, "module": type(exc).__module__, "message": str(exc),
           "traceback": "".join(tb_mod.format_exception(type(exc), exc, exc.__traceback__))}
    for attr in ("status_code", "status"):
        v = getattr(exc, attr, None)
        if isinstance(v, (int, str)):
            err["status_code"] = v
            break
    resp = getattr(exc, "response", None)
    if isinstance(resp, dict) and "Error" in resp:  # botocore ClientError
        err["aws_error"] = resp["Error"]
    return err


def _make_exception(spec):
    module = importlib.import_module(spec.get("module") or "builtins")
    cls = module
    for part in spec["type"].split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise TypeError(f"{spec['type']} is not an exception class")
    return cls(*spec.get("args", []))


def _make_request(app, task_id, spec):
    from celery.app.task import Context

    if spec is None:
        return None
    children = [app.AsyncResult(c) if isinstance(c, str) else c for c in spec.get("children", [])]
    ctx = Context(
        id=spec.get("id", task_id),
        task=spec.get("name"),
        args=spec.get("args"),
        kwargs=spec.get("kwargs"),
        hostname=spec.get("hostname"),
        retries=spec.get("retries", 0),
        delivery_info=spec.get("delivery_info") or {},
        group=spec.get("group"),
        parent_id=spec.get("parent_id"),
        root_id=spec.get("root_id"),
    )
    # Context.children is a read-only property over _children (filled by add_to_chord/apply).
    ctx.children.extend(children)
    if "stamps" in spec:
        ctx.stamps = spec["stamps"]
        ctx.stamped_headers = list(spec["stamps"].keys())
    return ctx


# --------------------------------------------------------------------------- backend setup

def _cosmos_backend_class(ca_file, missing_500_is_404):
    from celery.backends import cosmosdbsql
    from pydocumentdb import documents

    class VerifiedConnectionPolicy(documents.ConnectionPolicy):
        def __init__(self):
            super().__init__()
            # Always set: without SSLConfiguration pydocumentdb passes verify=False for
            # localhost/127.0.0.1. verify=<ca file>, or True (the default trust store).
            ssl = documents.SSLConfiguration()
            ssl.SSLCaCerts = ca_file or True
            self.SSLConfiguration = ssl

    class HttpsCosmosDBSQLBackend(cosmosdbsql.CosmosDBSQLBackend):
        """Celery's backend, but https on any port (Celery: https only for port 443)."""

        @classmethod
        def _parse_url(cls, url):
            endpoint, key = super()._parse_url(url)
            if endpoint.startswith("http://"):
                endpoint = "https://" + endpoint[len("http://"):]
            return endpoint, key

        def get(self, key):
            if not missing_500_is_404:
                return super().get(key)
            from pydocumentdb.errors import HTTPFailure
            try:
                return super().get(key)
            except HTTPFailure as exc:
                # @vercel/cosmosdb-server 1.0.1 answers a ReadDocument of a MISSING document in a
                # partitioned collection with 500 "Cannot read properties of undefined (reading
                # 'id')" instead of 404 (read-document.js indexes the undefined document). Celery
                # maps only 404 to None, so without this every first store (its SUCCESS-guard read)
                # fails. Real Cosmos DB answers 404. Peer option cosmos_missing_500_is_404.
                if exc.status_code == 500 and "reading 'id'" in str(exc):
                    return None
                raise

        @property
        def _client(self):
            # Same code path as Celery's cached_property, but with a verifying ConnectionPolicy.
            if "_peer_client" not in self.__dict__:
                saved = cosmosdbsql.ConnectionPolicy
                cosmosdbsql.ConnectionPolicy = VerifiedConnectionPolicy
                try:
                    self.__dict__["_peer_client"] = cosmosdbsql.CosmosDBSQLBackend._client.func(self)
                finally:
                    cosmosdbsql.ConnectionPolicy = saved
            return self.__dict__["_peer_client"]

    return HttpsCosmosDBSQLBackend


def _ensure_cassandra_keyspace(conf):
    from cassandra.cluster import Cluster

    keyspace = conf.get("cassandra_keyspace")
    servers = conf.get("cassandra_servers")
    if not keyspace or not servers:
        return
    cluster = Cluster(servers, port=conf.get("cassandra_port") or 9042,
                      **(conf.get("cassandra_options") or {}))
    try:
        session = cluster.connect()
        session.execute(
            "CREATE KEYSPACE IF NOT EXISTS \"%s\" WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}" % keyspace.replace('"', '""'))
    finally:
        cluster.shutdown()


def _quote_userinfo(url):
    """Percent-encode the userinfo of scheme://user:password@host:port.

    Cosmos keys are base64 ('/', '+', '='); a raw '/' makes urlparse end the netloc early and
    Celery fails with "Port could not be cast to integer". kombu unquotes the password, so the
    encoded form reaches pydocumentdb unchanged. Already-encoded userinfo is left as is.
    """
    from urllib.parse import quote

    scheme, rest = url.split("://", 1)
    if "@" not in rest:
        return url
    userinfo, hostpart = rest.rsplit("@", 1)
    if "%" in userinfo:
        return url
    user, sep, password = userinfo.partition(":")
    return f"{scheme}://{quote(user, safe='')}{sep}{quote(password, safe='')}@{hostpart}"


def setup(request):
    from celery import Celery
    from kombu.utils.url import _parse_url

    url = request["url"]
    if url.startswith("cosmosdbsql://"):
        url = _quote_userinfo(url)
    settings = dict(request.get("settings") or {})
    peer = dict(request.get("peer") or {})
    scheme = url.split("://", 1)[0].split("+", 1)[0]

    if scheme == "cassandra":
        # Celery ignores the URL's content; take host/port from it when not given explicitly.
        _, host, port, _, _, _, _ = _parse_url(url)
        settings.setdefault("cassandra_servers", [host or "127.0.0.1"])
        if port:
            settings.setdefault("cassandra_port", int(port))
        settings.setdefault("cassandra_keyspace", "celery_interop")
        settings.setdefault("cassandra_table", "celery_taskmeta")

    # The broker matters only to the send_task op and to e2e_worker.py (a real worker on Redis).
    broker = request.get("broker") or "memory://"
    app = Celery("resultstore_peer", broker=broker, backend=url, set_as_current=True)
    app.conf.update(
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_serializer="json",
        **settings,
    )

    if scheme == "cassandra" and peer.get("cassandra_create_keyspace", True):
        _ensure_cassandra_keyspace(app.conf)

    if scheme == "cosmosdbsql" and peer.get("cosmos_https", True):
        ca = (peer.get("cosmos_ca") or os.environ.get("RESULTSTORE_COSMOS_CA")
              or os.environ.get("REQUESTS_CA_BUNDLE"))
        cls = _cosmos_backend_class(ca, peer.get("cosmos_missing_500_is_404", True))
        backend = cls(app=app, url=url)
    else:
        backend = app.backend
    return app, backend


# --------------------------------------------------------------------------- raw readers

def _mongo_doc(doc):
    if doc is None:
        return None
    out = {}
    for k, v in doc.items():
        if isinstance(v, datetime.datetime):
            out[k] = {"$date": v.isoformat(), "tzinfo": v.tzinfo is not None}
        else:
            out[k] = _to_json(v)
    return out


def _raw(app, backend, task_id=None, group_id=None):
    name = type(backend).__name__
    out = {"backend": name}
    if "Mongo" in name:
        coll = backend.collection if task_id is not None else backend.group_collection
        doc = coll.find_one({"_id": task_id if task_id is not None else group_id})
        out.update(database=backend.database_name, collection=coll.name, document=_mongo_doc(doc))
        if doc is not None:
            out["bson_types"] = {k: type(v).__name__ for k, v in doc.items()}
        return out
    if "Cassandra" in name:
        backend._get_connection()
        rows = backend._session.execute(
            "SELECT task_id, status, result, date_done, traceback, children FROM %s WHERE task_id=%%s"
            % backend.table, (task_id,))
        out["table"] = f"{backend.keyspace}.{backend.table}"
        out["rows"] = [{"task_id": r.task_id, "status": r.status,
                        "result": _to_json(r.result), "date_done": _to_json(r.date_done),
                        "traceback": _to_json(r.traceback), "children": _to_json(r.children)}
                       for r in rows]
        return out

    key = (backend.get_key_for_task(task_id) if task_id is not None
           else backend.get_key_for_group(group_id))
    out["key"] = _to_json(key)
    value = backend.get(key)
    out["value"] = _to_json(value)
    if "DynamoDB" in name:
        item = backend.client.get_item(TableName=backend.table_name,
                                       Key={"id": {"S": str(key)}}).get("Item")
        out["table"] = backend.table_name
        out["item"] = None if item is None else {
            attr: {t: _to_json(v) for t, v in typed.items()} for attr, typed in item.items()}
    elif "Elasticsearch" in name:
        from kombu.utils.encoding import bytes_to_str
        try:
            res = backend._get(bytes_to_str(key))
            res = res.body if hasattr(res, "body") else dict(res)
        except Exception as exc:  # NotFoundError
            res = {"error": str(exc)}
        out["index"] = backend.index
        out["document"] = _to_json(res)
    elif "Consul" in name:
        ckey = backend._key_to_consul_key(key)
        _, data = backend.client().kv.get(ckey)
        out["consul_key"] = ckey
        out["entry"] = _to_json(data)
    elif "Cosmos" in name:
        from kombu.utils.encoding import bytes_to_str
        from pydocumentdb.errors import HTTPFailure
        k = bytes_to_str(key)
        try:
            doc = backend._client.ReadDocument(backend._get_document_link(k),
                                              backend._get_partition_key(k))
        except HTTPFailure as exc:
            if exc.status_code != 404:
                raise
            doc = None
        out["link"] = backend._get_document_link(k)
        out["document"] = _to_json(doc)
    return out


# --------------------------------------------------------------------------- ops

def _read(app, backend, task_id):
    from celery.result import AsyncResult

    backend._cache.clear()
    meta = backend.get_task_meta(task_id)
    out = _to_json(meta, backend)
    out["date_done_type"] = type(meta.get("date_done")).__name__
    out["result_type"] = type(meta.get("result")).__name__
    backend._cache.clear()
    res = AsyncResult(task_id, backend=backend, app=app)
    out["async_result"] = {
        "state": res.state,
        "result": _to_json(res.result, backend),
        "date_done": _to_json(res.date_done),
        "date_done_type": type(res.date_done).__name__,
        "traceback": res.traceback,
    }
    return out


def run_op(app, backend, op):
    from celery.result import GroupResult

    kind = op["op"]
    if kind == "store":
        result = op.get("result")
        if op.get("exception"):
            result = _make_exception(op["exception"])
        req = _make_request(app, op["task_id"], op.get("request"))
        ret = backend.store_result(op["task_id"], result, op["state"],
                                   traceback=op.get("traceback"), request=req)
        return _to_json(ret, backend)
    if kind == "read":
        return _read(app, backend, op["task_id"])
    if kind == "raw":
        return _raw(app, backend, task_id=op["task_id"])
    if kind == "raw_group":
        return _raw(app, backend, group_id=op["group_id"])
    if kind == "forget":
        backend.forget(op["task_id"])
        return None
    if kind == "save_group":
        gr = GroupResult(op["group_id"], [app.AsyncResult(t) for t in op["task_ids"]], app=app)
        backend.save_group(op["group_id"], gr)
        return None
    if kind == "restore_group":
        backend._cache.clear()
        meta = backend.restore_group(op["group_id"], cache=False)
        if meta is None:
            return None
        res = meta.get("result") if isinstance(meta, dict) else meta
        if isinstance(res, GroupResult):
            ids = [r.id for r in res.results]
        elif isinstance(res, (list, tuple)):
            ids = [getattr(r, "id", r) for r in res]
        else:
            ids = _to_json(res)
        out = {k: _to_json(v, backend) for k, v in meta.items() if k != "result"} \
            if isinstance(meta, dict) else {}
        out.update(group_id=op["group_id"], task_ids=ids, result_type=type(res).__name__)
        return out
    if kind == "send_task":
        # Celery's own producer: the message a Python client puts on the broker (needs "broker").
        res = app.send_task(op["name"], args=op.get("args"), kwargs=op.get("kwargs"),
                            task_id=op["task_id"], queue=op.get("queue"))
        return res.id
    if kind == "delete_group":
        backend.delete_group(op["group_id"])
        return None
    raise ValueError(f"unknown op {kind!r}")


def main():
    import celery

    request = json.load(sys.stdin)
    answer = {"celery": celery.__version__, "results": []}
    app, backend = setup(request)
    answer["backend"] = type(backend).__name__
    for op in request.get("ops", []):
        try:
            answer["results"].append(run_op(app, backend, op))
        except Exception as exc:  # reported per op; the caller decides
            answer["results"].append({"error": _error_json(exc)})
    _REAL_STDOUT.write(json.dumps(answer))
    _REAL_STDOUT.write("\n")
    _REAL_STDOUT.flush()
    # Drivers (cassandra) may keep non-daemon threads; leave promptly.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:
        sys.stderr.write(json.dumps({"fatal": _error_json(exc)}) + "\n")
        sys.stderr.flush()
        os._exit(2)
