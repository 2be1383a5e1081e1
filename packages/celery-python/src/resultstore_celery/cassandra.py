"""Cassandra: Celery's CassandraBackend, with every write one lightweight transaction instead of
Celery's plain INSERT of a new history row per state.

A write reads the partition (newest row plus our static columns), applies the state rules and the
merge (records.py), then commits one conditional batch on that partition: ``IF rs_version = <read>``
on the static guard, the new Celery row, and the delete of the row it supersedes. Paxos applies it
only if no other write came in between; a lost race reads again. The rows are exactly what
@resultstore/backend-cassandra writes (packages/backend-cassandra/src/records.ts, schema.ts,
store.ts): Celery's columns (JSON-text blobs) plus static ``rs_version``, ``rs_meta`` (metadata,
the request fields, ``write_id``) and ``rs_expires_at``; a TTL from ``result_expires``.
"""

import math
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, unquote

from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType
from celery import states
from celery.backends.cassandra import CassandraBackend as CeleryCassandraBackend
from kombu.utils.json import dumps as json_dumps
from kombu.utils.json import loads as json_loads

from ._base import RulesMixin
from .errors import ConfigurationError, ResultStoreError
from .records import EXTENDED, apply_write
from .rules import READY_STATES

DEFAULT_TABLE = "celery_taskmeta"
MAX_ROUNDS = 50
MAX_TTL_SECONDS = 630_720_000
STATIC_COLUMNS = (
    ("rs_version", "int"),
    ("rs_token", "uuid"),
    ("rs_meta", "blob"),
    ("rs_expires_at", "timestamp"),
)
_URL = re.compile(r"^cassandra://(?:([^@/?#]*)@)?([^/?#]*)(?:/([^?#]*))?(?:\?([^#]*))?$", re.IGNORECASE)
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


def ttl_seconds(expires_ms: Optional[int], now_ms: int) -> int:
    """records.ts ``ttlSeconds``: never before the expiry's second; 0 = no TTL."""
    if expires_ms is None:
        return 0
    ttl = math.ceil(expires_ms / 1000) - now_ms // 1000
    if ttl > MAX_TTL_SECONDS:
        raise ConfigurationError("cassandra", "Expiry is beyond Cassandra's 20-year TTL limit.")
    return max(1, ttl)


def _ms(date: Optional[datetime]) -> Optional[int]:
    if date is None:
        return None
    aware = date if date.tzinfo else date.replace(tzinfo=timezone.utc)
    return int(aware.timestamp() * 1000)


def _date(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _json(value: Any) -> bytes:
    return json_dumps(value).encode("utf-8")


def _from_json(blob: Optional[bytes]) -> Any:
    return json_loads(bytes(blob).decode("utf-8")) if blob else None


def options_from_url(url: str) -> Dict[str, Any]:
    """The Node backend's ``cassandra://[user:pw@]host[:port][,host…][/keyspace][?table=…]``
    (Celery ignores the URL's content; settings still win over it)."""
    match = _URL.match(url or "")
    if not match:
        raise ConfigurationError("cassandra", "Not a cassandra:// URL.")
    userinfo, hosts, path, query = match.groups()
    options: Dict[str, Any] = {}
    if userinfo:
        user, _, password = userinfo.partition(":")
        options["username"], options["password"] = unquote(user), unquote(password)
    servers, port = [], None
    for point in filter(None, (hosts or "").split(",")):
        host, _, point_port = point.rpartition(":") if re.search(r":\d+$", point) else (point, "", "")
        servers.append(host)
        port = int(point_port) if point_port else port
    if servers:
        options["servers"], options["port"] = servers, port
    if path:
        options["keyspace"] = unquote(path.rstrip("/"))
    for key, values in parse_qs(query or "").items():
        if key not in ("table", "keyspace"):
            raise ConfigurationError("cassandra", f"Unknown URL option `{key}` (known here: table, keyspace).")
        options[key] = values[-1]
    return options


class CassandraBackend(RulesMixin, CeleryCassandraBackend):
    """``resultstore+cassandra://…``: Celery's CassandraBackend under resultstore's state rules."""

    backend_name = "cassandra"

    def __init__(self, servers: Any = None, keyspace: Any = None, table: Any = None, port: Any = None, **kwargs: Any) -> None:
        app = kwargs.get("app")
        conf = app.conf if app is not None else {}
        from_url = options_from_url(kwargs.get("url") or "cassandra://")
        servers = servers or conf.get("cassandra_servers") or from_url.get("servers")
        if not conf.get("cassandra_secure_bundle_path"):
            servers = servers or ["127.0.0.1"]
        keyspace = keyspace or conf.get("cassandra_keyspace") or from_url.get("keyspace")
        table = table or conf.get("cassandra_table") or from_url.get("table") or DEFAULT_TABLE
        port = port or conf.get("cassandra_port") or from_url.get("port")
        for what, name in (("keyspace", keyspace), ("table", table)):
            if name is not None and not _IDENT.match(name):
                raise ConfigurationError("cassandra", f"Invalid {what} name {name!r}.")
        super().__init__(servers=servers, keyspace=keyspace, table=table, port=port, **kwargs)
        if "username" in from_url and self.auth_provider is None:
            from cassandra.auth import PlainTextAuthProvider

            self.auth_provider = PlainTextAuthProvider(from_url["username"], from_url["password"])
        self.keyspace, self.table = self.keyspace.lower(), self.table.lower()
        self._ours: Optional[Dict[str, Any]] = None

    # --- schema and statements (schema.ts) -------------------------------------------------------

    def _prepared(self) -> Dict[str, Any]:
        if self._ours is not None:
            return self._ours
        self._get_connection()
        session = self._session
        ks, t = f'"{self.keyspace}"', f'"{self.table}"'
        tasks, counters = f"{ks}.{t}", f'{ks}."{self.table}_counters"'
        columns = {
            row.column_name
            for row in session.execute(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = %s AND table_name = %s",
                (self.keyspace, self.table),
            )
        }
        if not columns:
            statics = ", ".join(f"{n} {c} static" for n, c in STATIC_COLUMNS)
            session.execute(
                f"CREATE TABLE IF NOT EXISTS {tasks} (task_id text, status text, result blob, "
                f"date_done timestamp, traceback blob, children blob, {statics}, "
                "PRIMARY KEY ((task_id), date_done)) WITH CLUSTERING ORDER BY (date_done DESC)"
            )
        else:
            for name, kind in STATIC_COLUMNS:
                if name not in columns:  # Celery created the table: add ours, never drop any
                    session.execute(f"ALTER TABLE {tasks} ADD {name} {kind} static")
        session.execute(
            f"CREATE TABLE IF NOT EXISTS {counters} (key text PRIMARY KEY, value bigint, expires_at timestamp)"
        )
        prepare = session.prepare
        self._ours = {
            "read_guard": prepare(
                f"SELECT status, date_done, children, rs_version, rs_token, rs_meta, rs_expires_at, TTL(status) AS ttl "
                f"FROM {tasks} WHERE task_id = ? LIMIT 1"
            ),
            "read_task": prepare(
                f"SELECT status, result, date_done, traceback, children, rs_meta, rs_expires_at, TTL(status) AS ttl "
                f"FROM {tasks} WHERE task_id = ? LIMIT 1"
            ),
            "guarded_statics": prepare(
                # rs_token is new on every write, so a guard read before a forget and
                # re-creation never passes on the new record (the Node backend does the same).
                f"UPDATE {tasks} USING TTL ? SET rs_version = ?, rs_token = ?, rs_meta = ?, rs_expires_at = ? "
                "WHERE task_id = ? IF rs_version = ? AND rs_token = ?"
            ),
            "insert_row": prepare(
                f"INSERT INTO {tasks} (task_id, date_done, status, result, traceback, children) "
                "VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
            ),
            "delete_row": prepare(f"DELETE FROM {tasks} WHERE task_id = ? AND date_done = ?"),
            "read_counter": prepare(f"SELECT value, expires_at FROM {counters} WHERE key = ?"),
            "create_counter": prepare(
                f"INSERT INTO {counters} (key, value, expires_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?"
            ),
            "update_counter": prepare(
                f"UPDATE {counters} USING TTL ? SET value = ?, expires_at = ? WHERE key = ? "
                "IF value = ? AND expires_at = ?"
            ),
        }
        for statement in self._ours.values():
            statement.consistency_level = self.write_consistency
            statement.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        for name in ("read_guard", "read_task", "read_counter"):
            self._ours[name].consistency_level = self.read_consistency
        return self._ours

    # --- writes ---------------------------------------------------------------------------------

    def _store_result(  # type: ignore[override]
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: Optional[str] = None,
        request: Any = None,
        write_id: Optional[str] = None,
        metadata: Optional[dict] = None,
        fields: Optional[dict] = None,
        **kwargs: Any,
    ) -> Any:
        cql = self._prepared()
        meta = self._request_meta(result, state, traceback, request, fields)
        result_json = self.encode(meta["result"])
        for _ in range(MAX_ROUNDS):
            now_ms = int(time.time() * 1000)
            write = self._write_record(task_id, state, meta, traceback, metadata, now_ms)
            row = self._session.execute(cql["read_guard"], (task_id,)).one()
            stored = _record(row, now_ms)
            nxt = apply_write(stored, write, now_ms)
            if nxt is None:
                if not (write_id and row is not None and (_from_json(row.rs_meta) or {}).get("write_id") == write_id):
                    self._refused(task_id, state, stored and stored["status"])
                return result
            version = row.rs_version if row is not None else None
            token = row.rs_token if row is not None else None
            superseded = _ms(row.date_done) if stored else None
            ttl = ttl_seconds(nxt["expires_at"], now_ms)
            row_time = max(nxt["date_done"] if nxt["date_done"] is not None else now_ms, (superseded or 0) + 1)
            batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=self.write_consistency)
            batch.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
            expires = _date(nxt["expires_at"]) if nxt["expires_at"] is not None else None
            batch.add(
                cql["guarded_statics"],
                (ttl, (version or 0) + 1, uuid.uuid4(), _static_meta(nxt, write_id), expires, task_id, version, token),
            )
            if superseded is not None:
                batch.add(cql["delete_row"], (task_id, _date(superseded)))
            batch.add(
                cql["insert_row"],
                (
                    task_id,
                    _date(row_time),
                    nxt["status"],
                    result_json.encode("utf-8"),
                    _json(nxt["traceback"]),
                    _json(nxt["children"]),
                    ttl,
                ),
            )
            if self._session.execute(batch).was_applied:
                return result
        raise ResultStoreError("cassandra", f"write of {task_id}: lost {MAX_ROUNDS} races")

    # --- reads, counters --------------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> Dict[str, Any]:
        """The newest row with our static fields; an expired record reads as PENDING."""
        cql = self._prepared()
        row = self._session.execute(cql["read_task"], (task_id,)).one()
        now_ms = int(time.time() * 1000)
        record = _record(row, now_ms)
        if record is None or (record["expires_at"] is not None and record["expires_at"] <= now_ms):
            return {"status": states.PENDING, "result": None}
        meta: Dict[str, Any] = {
            "task_id": task_id,
            "status": record["status"],
            "result": _from_json(row.result),
            "date_done": row.date_done if record["status"] in READY_STATES else None,
            "traceback": _from_json(row.traceback),
            "children": record["children"],
        }
        for field in ("group_id", "parent_id", *EXTENDED):
            if record.get(field) is not None:
                meta[field] = record[field]
        meta["metadata"] = record["metadata"]
        return self.meta_from_decoded(meta)

    def incr(self, key: Any, by: int = 1) -> int:  # type: ignore[override]
        """Adds ``by`` with one lightweight transaction on ``<table>_counters`` (counters.ts)."""
        cql = self._prepared()
        key = key.decode() if isinstance(key, bytes) else str(key)
        for _ in range(MAX_ROUNDS):
            now_ms = int(time.time() * 1000)
            row = self._session.execute(cql["read_counter"], (key,)).one()
            stored_expiry = _ms(row.expires_at) if row is not None else None
            live = row is not None and not (stored_expiry is not None and stored_expiry <= now_ms)
            value = (int(row.value) if live else 0) + by
            expires_ms = self._expires_ms(now_ms)
            expires = _date(expires_ms) if expires_ms is not None else None
            ttl = ttl_seconds(expires_ms, now_ms)
            if row is not None:
                outcome = self._session.execute(
                    cql["update_counter"], (ttl, value, expires, key, row.value, row.expires_at)
                )
            else:
                outcome = self._session.execute(cql["create_counter"], (key, value, expires, ttl))
            if outcome.was_applied:
                return value
        raise ResultStoreError("cassandra", f"incr of {key}: lost {MAX_ROUNDS} races")


def _static_meta(record: Dict[str, Any], write_id: Optional[str]) -> bytes:
    """records.ts ``encodeStaticMeta``: write_id, metadata when non-empty, the set fields."""
    meta: Dict[str, Any] = {"write_id": write_id} if write_id else {}
    if record.get("metadata"):
        meta["metadata"] = record["metadata"]
    for field in ("group_id", "parent_id", *EXTENDED):
        if record.get(field) is not None:
            meta[field] = record[field]
    return _json(meta)


def _record(row: Any, now_ms: int) -> Optional[Dict[str, Any]]:
    """records.ts ``decodeTask`` for a guard or task row (None for an empty partition)."""
    if row is None or not row.status:
        return None
    children = _from_json(row.children)
    ttl = getattr(row, "ttl", None)
    expires = _ms(row.rs_expires_at) if row.rs_expires_at is not None else (now_ms + ttl * 1000 if ttl else None)
    record: Dict[str, Any] = {
        "task_id": None,
        "status": row.status,
        "children": children if isinstance(children, list) else None,
        "date_done": _ms(row.date_done) if row.status in READY_STATES else None,
        "expires_at": expires,
        "metadata": {},
    }
    static = _from_json(row.rs_meta)
    if isinstance(static, dict):
        record["metadata"] = static.get("metadata") if isinstance(static.get("metadata"), dict) else {}
        for field in ("group_id", "parent_id", *EXTENDED):
            record[field] = static.get(field)
    return record
