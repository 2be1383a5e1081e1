"""Cassandra: Celery's CassandraBackend, with every write one lightweight transaction instead of
Celery's plain INSERT of a new history row per state.

A write reads the partition (newest row plus our static columns), applies the state rules and the
merge (records.py), then commits one conditional batch on that partition: ``IF rs_version = <read>``
on the static guard, the new Celery row, and the delete of the row it supersedes. Paxos applies it
only if no other write came in between; a lost race reads again. The rows are exactly what
@resultstore/backend-cassandra writes (packages/backend-cassandra/src/records.ts, schema.ts,
store.ts): Celery's columns (JSON-text blobs) plus static ``rs_version``, ``rs_meta`` (metadata,
the request fields, ``write_id``), ``rs_expires_at`` and the columns ``find`` selects by
(``rs_updated_at``, ``rs_state``, ``rs_name``, ``rs_find``: find.ts); a TTL from ``result_expires``.
"""

import math
import re
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Optional
from urllib.parse import parse_qs, unquote

from cassandra import ConsistencyLevel
from cassandra.query import BatchStatement, BatchType
from celery import states
from celery.backends.cassandra import CassandraBackend as CeleryCassandraBackend
from celery.result import result_from_tuple
from kombu.utils.json import dumps as json_dumps
from kombu.utils.json import loads as json_loads

from ._base import RulesMixin
from .chords import MemberSetChords
from .errors import ConfigurationError, ResultStoreError
from .records import EXTENDED, apply_write
from .rules import READY_STATES

DEFAULT_TABLE = "celery_taskmeta"
MAX_ROUNDS = 50
MAX_TTL_SECONDS = 630_720_000
#: The expiry stored for a set member without one (sets.ts NEVER: the latest date JavaScript has).
NEVER_MS = 8_640_000_000_000_000
#: Members per refreshing UPDATE, so each mutation stays far below Cassandra's size limit.
SET_REFRESH_CHUNK = 1000
STATIC_COLUMNS = (
    ("rs_version", "int"),
    ("rs_token", "uuid"),
    ("rs_meta", "blob"),
    ("rs_expires_at", "timestamp"),
    # find's columns (the Node backend's find.ts indexes them with SAI)
    ("rs_updated_at", "timestamp"),
    ("rs_state", "text"),
    ("rs_name", "text"),
    ("rs_find", "map<text, text>"),
)
#: find.ts INDEXES: name suffix -> indexed column, each index named ``<table>_find_<suffix>``.
FIND_INDEXES = (
    ("state", "rs_state"),
    ("name", "rs_name"),
    ("updated", "rs_updated_at"),
    ("metadata", "ENTRIES(rs_find)"),
    ("celery_state", "status"),
    ("celery_time", "date_done"),
)
#: records.ts MAX_INDEXED_TERM_BYTES: longer names and metadata entries are not indexed.
MAX_INDEXED_TERM_BYTES = 1000
_URL = re.compile(r"^cassandra://(?:([^@/?#]*)@)?([^/?#]*)(?:/([^?#]*))?(?:\?([^#]*))?$", re.IGNORECASE)
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_CQL_TIMESTAMP = re.compile(r"^([+-]?\d+)-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z$")


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


class CassandraBackend(RulesMixin, MemberSetChords, CeleryCassandraBackend):
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
        if "reconnection_policy" not in self.cassandra_options:
            # cassandra-driver's default waits up to 600 s between tries for a lost host, so a
            # worker stayed without a host for minutes after an outage (PROOF.md): the Node
            # backend's policy, 0.5 s doubling up to 5 s, for as long as the host is down.
            from cassandra.policies import ExponentialReconnectionPolicy

            policy = ExponentialReconnectionPolicy(0.5, 5.0, max_attempts=None)
            self.cassandra_options = {**self.cassandra_options, "reconnection_policy": policy}
        self._ours: Optional[Dict[str, Any]] = None

    # --- schema and statements (schema.ts) -------------------------------------------------------

    def _prepared(self) -> Dict[str, Any]:
        if self._ours is not None:
            return self._ours
        self._get_connection()
        session = self._session
        ks, t = f'"{self.keyspace}"', f'"{self.table}"'
        tasks = f"{ks}.{t}"
        groups, counters, sets = (f'{ks}."{self.table}_{kind}"' for kind in ("groups", "counters", "sets"))
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
        for name, kind in STATIC_COLUMNS:
            if columns and name not in columns:  # an older table: add ours, never drop any
                session.execute(f"ALTER TABLE {tasks} ADD {name} {kind} static")
        if not columns or any(name not in columns for name, _ in STATIC_COLUMNS):
            # The table was made or changed here: its find indexes too (client.ts does the same).
            for suffix, column in FIND_INDEXES:
                session.execute(
                    f'CREATE INDEX IF NOT EXISTS "{self.table}_find_{suffix}" ON {tasks} ({column}) USING \'sai\''
                )
        # The Node backend's tables (schema.ts) beside Celery's, which has none of them.
        for table in (
            f"{groups} (group_id text PRIMARY KEY, result blob, date_done timestamp, expires_at timestamp)",
            f"{counters} (key text PRIMARY KEY, value bigint, expires_at timestamp)",
            f"{sets} (key text PRIMARY KEY, members map<text, timestamp>)",
        ):
            session.execute(f"CREATE TABLE IF NOT EXISTS {table}")
        prepare = session.prepare
        self._ours = {
            "read_guard": prepare(
                f"SELECT status, date_done, children, rs_version, rs_token, rs_meta, rs_expires_at, rs_updated_at, TTL(status) AS ttl "
                f"FROM {tasks} WHERE task_id = ? LIMIT 1"
            ),
            "read_task": prepare(
                f"SELECT status, result, date_done, traceback, children, rs_meta, rs_expires_at, rs_updated_at, TTL(status) AS ttl "
                f"FROM {tasks} WHERE task_id = ? LIMIT 1"
            ),
            "guarded_statics": prepare(
                # rs_token is new on every write, so a guard read before a forget and
                # re-creation never passes on the new record (the Node backend does the same).
                f"UPDATE {tasks} USING TTL ? SET rs_version = ?, rs_token = ?, rs_meta = ?, rs_expires_at = ?, "
                "rs_updated_at = ?, rs_state = ?, rs_name = ?, rs_find = ? "
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
            # As JSON: the driver cannot decode the expiry of a set that never expires (year 275760).
            "read_set": prepare(f"SELECT JSON members FROM {sets} WHERE key = ?"),
            "add_to_set": prepare(f"UPDATE {sets} USING TTL ? SET members = members + ? WHERE key = ?"),
            "save_group": prepare(
                f"INSERT INTO {groups} (group_id, result, date_done, expires_at) VALUES (?, ?, ?, ?) USING TTL ?"
            ),
            "read_group": prepare(f"SELECT result, date_done, expires_at FROM {groups} WHERE group_id = ?"),
            "delete_group": prepare(f"DELETE FROM {groups} WHERE group_id = ?"),
        }
        for statement in self._ours.values():
            statement.consistency_level = self.write_consistency
            statement.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        for name in ("read_guard", "read_task", "read_counter", "read_set", "read_group"):
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
            statics = (ttl, (version or 0) + 1, uuid.uuid4(), _static_meta(nxt, write_id), expires, *_find_columns(nxt))
            batch.add(cql["guarded_statics"], (*statics, task_id, version, token))
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

    # --- sets and groups (the Node backend's sets.ts and records.ts) -------------------------------

    def add_to_set(self, key: str, member: str) -> int:
        """Adds ``member`` to ``<table>_sets``: a map of member -> the set's expiry, each element
        holding the exact expiry it was written with, so only elements still ahead count; an add
        re-writes the live members with another expiry, so the whole set lives as long as its
        last add. Plain collection updates (no Paxos): adding a member twice adds it once. The
        size is read after the add was acknowledged (quorum levels by default), so it counts
        this add and every add acknowledged before it."""
        cql = self._prepared()
        now_ms = int(time.time() * 1000)
        expires_ms = self._expires_ms(now_ms)
        expiry = expires_ms if expires_ms is not None else NEVER_MS
        ttl = ttl_seconds(expires_ms, now_ms)
        before = self._live_members(key, now_ms)
        writes = [member] + [m for m, stored in before.items() if m != member and stored != expiry]
        for i in range(0, len(writes), SET_REFRESH_CHUNK):
            chunk = {m: expiry for m in writes[i : i + SET_REFRESH_CHUNK]}  # epoch ms, as the driver takes
            self._session.execute(cql["add_to_set"], (ttl, chunk, key))
        after = self._live_members(key, now_ms)
        after[member] = expiry  # this add counts in its own answer even if its expiry passed
        return len(after)

    def _live_members(self, key: str, now_ms: int) -> Dict[str, int]:
        cql = self._prepared()  # connects: before self._session is read
        row = self._session.execute(cql["read_set"], (key,)).one()
        stored = (json_loads(row.json).get("members") if row is not None else None) or {}
        live = {m: _cql_timestamp_ms(text) for m, text in stored.items()}
        return {m: expiry for m, expiry in live.items() if expiry > now_ms}

    def _save_group(self, group_id: str, result: Any) -> Any:
        """The Node backend's group row: Celery's group tuple as JSON, expiring with the results."""
        cql = self._prepared()
        now_ms = int(time.time() * 1000)
        expires_ms = self._expires_ms(now_ms)
        self._session.execute(
            cql["save_group"],
            (
                group_id,
                _json(result.as_tuple()),
                _date(now_ms),
                _date(expires_ms) if expires_ms is not None else None,
                ttl_seconds(expires_ms, now_ms),
            ),
        )
        return result

    def _restore_group(self, group_id: str) -> Optional[Dict[str, Any]]:
        cql = self._prepared()
        row = self._session.execute(cql["read_group"], (group_id,)).one()
        expires = _ms(row.expires_at) if row is not None else None
        if row is None or (expires is not None and expires <= int(time.time() * 1000)):
            return None
        value = _from_json(row.result)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            result: Any = self.app.GroupResult(group_id, [self.app.AsyncResult(v) for v in value])
        else:
            result = result_from_tuple(value, self.app)
        return {"task_id": group_id, "date_done": row.date_done, "result": result}

    def _delete_group(self, group_id: str) -> None:
        cql = self._prepared()
        self._session.execute(cql["delete_group"], (group_id,))


def _cql_timestamp_ms(text: str) -> int:
    """Epoch ms of a timestamp as Cassandra's JSON writes it (``2024-05-01 12:00:00.123Z``, and
    ``+275760-09-13 …`` beyond Python's datetime)."""
    match = _CQL_TIMESTAMP.match(text)
    if not match:
        raise ResultStoreError("cassandra", f"Unreadable timestamp {text!r} in a set.")
    year, month, day, hour, minute, second, fraction = match.groups()
    days = _days_from_civil(int(year), int(month), int(day))
    seconds = ((days * 24 + int(hour)) * 60 + int(minute)) * 60 + int(second)
    return seconds * 1000 + int((fraction or "").ljust(3, "0")[:3])


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, for any year (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _static_meta(record: Dict[str, Any], write_id: Optional[str]) -> bytes:
    """records.ts ``encodeStaticMeta``: write_id, metadata when non-empty, the set fields."""
    meta: Dict[str, Any] = {"write_id": write_id} if write_id else {}
    if record.get("metadata"):
        meta["metadata"] = record["metadata"]
    for field in ("group_id", "parent_id", *EXTENDED):
        if record.get(field) is not None:
            meta[field] = record[field]
    return _json(meta)


def _find_columns(record: Dict[str, Any]) -> tuple:
    """records.ts ``encodeWrite``'s find columns: rs_updated_at, rs_state, rs_name, rs_find."""
    name = record.get("name")
    indexed_name = name if isinstance(name, str) and _indexable(name) else None
    tokens = {}
    for key, value in (record.get("metadata") or {}).items():
        if isinstance(value, (str, bool, int, float)):
            token = _js_json(value)
            if _indexable(key, token):
                tokens[key] = token
    updated = _date(record["updated_at"]) if record.get("updated_at") is not None else None
    return updated, record["status"], indexed_name, tokens or None


def _indexable(*terms: str) -> bool:
    return sum(len(term.encode("utf-8")) for term in terms) <= MAX_INDEXED_TERM_BYTES


def _js_json(value: Any) -> str:
    """A scalar's JSON as JavaScript writes it (records.ts ``findTokens``): a float as
    ``Number.prototype.toString`` spells it, where Python's differs (1.0, 1e-05, 1e+16)."""
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value):
        return json_dumps(value)
    # The shortest digits that read back as the value (as both languages pick them).
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # value = 0.<digits> x 10^point
    sign = "-" if value < 0 else ""
    if len(digits) <= point <= 21:
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    if 0 < point <= 21:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    rest = f".{digits[1:]}" if len(digits) > 1 else ""
    return f"{sign}{digits[0]}{rest}e{'+' if point > 0 else '-'}{abs(point - 1)}"


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
