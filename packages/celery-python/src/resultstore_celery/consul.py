"""Consul: Celery's ConsulBackend, with every write a check-and-set transaction instead of a
session-locked create.

Celery's ``set`` creates a session and writes with ``?acquire=``, which Consul refuses on a key
another live session holds: a task's second write (STARTED, then SUCCESS) is silently dropped.
Here a write reads the key (value, ModifyIndex, lock holder), applies the state rules and the merge
(records.py), and commits through ``/v1/txn`` guarded by ``check-index`` (``check-not-exists`` for
a new key); the same transaction moves the key's lock to the session of its expiry bucket. If
anyone wrote in between, Consul rolls it back and the write reads again. The value is exactly what
@resultstore/backend-consul stores (packages/backend-consul/src/records.ts, store.ts, sessions.ts).
"""

import base64
import json
import math
import time
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, quote, urlparse

import requests
from celery import states
from celery.backends.consul import ConsulBackend as CeleryConsulBackend
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps as json_dumps
from kombu.utils.json import loads as json_loads

from ._base import RulesMixin
from .chords import MemberSetChords
from .errors import ConfigurationError, ResultStoreError
from .records import apply_write, celery_date, encode_meta, parse_date_ms, record_from_meta

MIN_SESSION_TTL = 10
MAX_SESSION_TTL = 86_400
MAX_BUCKET_MS = 60_000
MAX_CAS_ATTEMPTS = 200
LOCK_FAILURES_BEFORE_UNLOCKED_WRITE = 3
#: The folder sets live in (the Node backend's SETS_FOLDER): ids never hold a "/", so no task,
#: group or counter key can be a set's.
SETS_FOLDER = "resultstore-sets/"

Entry = Tuple[str, int, Optional[str]]  # value, ModifyIndex, session holding the lock


class _Skip:
    def __init__(self, result: Any) -> None:
        self.result = result


class ConsulBackend(RulesMixin, MemberSetChords, CeleryConsulBackend):
    """``resultstore+consul://…``: Celery's ConsulBackend under resultstore's state rules."""

    backend_name = "consul"
    implements_incr = True

    def _init_from_params(self, hostname: str, port: int, virtual_host: str, **params: Any) -> None:
        super()._init_from_params(hostname, port, virtual_host, **params)
        if not self.path:
            self.path = None  # "consul://h:8500/" has no prefix, as in Node
        url = urlparse(self.url or "")
        query = parse_qs(url.query)
        scheme = "https" if (url.scheme or "").lower() == "consul+https" else "http"
        self._base = f"{scheme}://{hostname or '127.0.0.1'}:{port or 8500}"
        self._token = (query.get("token") or [None])[0]
        self._dc = (query.get("dc") or [None])[0]
        consistency = (query.get("consistency") or ["consistent"])[0]
        if consistency not in ("default", "consistent", "stale"):
            raise ConfigurationError(
                "consul", f'Option `consistency` must be one of "default", "consistent", "stale", got {consistency!r}.'
            )
        self._consistency = consistency
        self._http = requests.Session()
        self._sessions: Dict[int, str] = {}

    # --- HTTP -----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, params: Optional[Dict[str, Any]] = None, body: Any = None) -> requests.Response:
        params = dict(params or {})
        if self._dc:
            params["dc"] = self._dc
        headers = {"X-Consul-Token": self._token} if self._token else {}
        return self._http.request(
            method, f"{self._base}{path}", params=params, data=body, headers=headers, timeout=10
        )

    def _kv_get(self, key: str, for_write: bool = False) -> Optional[Entry]:
        params = {} if for_write or self._consistency == "default" else {self._consistency: ""}
        response = self._request("GET", f"/v1/kv/{quote(key, safe='/')}", params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        raw = response.json()[0]
        value = base64.b64decode(raw["Value"]).decode("utf-8") if raw.get("Value") else ""
        return value, raw["ModifyIndex"], raw.get("Session") or None

    def _txn(self, ops: List[Dict[str, Any]]) -> Optional[List[Tuple[int, str]]]:
        """Runs ``ops`` atomically: None when committed, else the failing (op index, what)."""
        response = self._request("PUT", "/v1/txn", body=json.dumps([{"KV": op} for op in ops]))
        if response.status_code == 200:
            return None
        if response.status_code == 409:
            errors = response.json().get("Errors") or []
            return [(e["OpIndex"], e["What"]) for e in errors]
        raise ResultStoreError("consul", f"KV transaction failed: HTTP {response.status_code} {response.text[:200]}")

    # --- sessions: one per expiry bucket (sessions.ts) --------------------------------------------

    def _session_for(self, expires_ms: Optional[int], now_ms: int) -> Optional[str]:
        if expires_ms is None or expires_ms - now_ms > MAX_SESSION_TTL * 1000:
            return None  # no native expiry: hidden on read once expired, removed by cleanup
        lifetime = expires_ms - now_ms
        width = min(MAX_BUCKET_MS, max(1000, math.ceil(lifetime / 100 / 1000) * 1000))
        bucket_end = math.ceil(expires_ms / width) * width
        session = self._sessions.get(bucket_end)
        if session:
            return session
        for bucket in [b for b in self._sessions if b <= now_ms]:
            del self._sessions[bucket]
        ttl = min(max(math.ceil((bucket_end - now_ms) / 1000), MIN_SESSION_TTL), MAX_SESSION_TTL)
        label = f"{self.path}/" if self.path else "/"
        body = {
            "Name": f"resultstore {label} until {celery_date(bucket_end)}",
            "TTL": f"{ttl}s",
            "Behavior": "delete",
            "LockDelay": "0s",
            "NodeChecks": [],
            "Checks": [],
        }
        response = self._request("PUT", "/v1/session/create", body=json.dumps(body))
        response.raise_for_status()
        session = response.json()["ID"]
        self._sessions[bucket_end] = session
        return session

    def _forget_session(self, session: str) -> None:
        for bucket, held in list(self._sessions.items()):
            if held == session:
                del self._sessions[bucket]

    # --- the check-and-set loop (store.ts `update`) -----------------------------------------------

    def _update(self, key: str, decide: Callable[[Optional[Entry]], Any]) -> Any:
        lock_failures = 0
        for _ in range(MAX_CAS_ATTEMPTS):
            entry = self._kv_get(key, for_write=True)
            change = decide(entry)
            if isinstance(change, _Skip):
                return change.result
            value, expires_ms, result = change
            now_ms = int(time.time() * 1000)
            use_session = lock_failures < LOCK_FAILURES_BEFORE_UNLOCKED_WRITE
            session = self._session_for(expires_ms, now_ms) if use_session else None
            failures = self._txn(_write_ops(key, entry, session, value))
            if failures is None:
                return result
            # Op 0 is the guard (someone wrote first: read again); a later op is the lock move.
            for index, what in failures:
                if index == 0:
                    continue
                if session and "invalid session" in what:
                    self._forget_session(session)
                lock_failures = LOCK_FAILURES_BEFORE_UNLOCKED_WRITE if "lock delay" in what else lock_failures + 1
        raise ResultStoreError("consul", f"write of {key}: lost {MAX_CAS_ATTEMPTS} check-and-set rounds")

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
        meta = self._request_meta(result, state, traceback, request, fields)
        now_ms = int(time.time() * 1000)
        write = self._write_record(task_id, state, meta, traceback, metadata, now_ms)
        key = self._key_to_consul_key(self.get_key_for_task(task_id))

        def decide(entry: Optional[Entry]) -> Any:
            stored = _decode_record(entry[0], task_id) if entry else None
            nxt = apply_write(stored, write, int(time.time() * 1000))
            if nxt is None:
                if not (write_id and entry and _stored_write_id(entry[0]) == write_id):
                    self._refused(task_id, state, stored and stored["status"])
                return _Skip(result)
            extra: Dict[str, Any] = {
                "expires_at": _date_or_none(nxt["expires_at"]),
                "updated_at": _date_or_none(nxt["updated_at"]),
            }
            if write_id:
                extra["write_id"] = write_id
            return encode_meta(nxt, extra), nxt["expires_at"], result

        return self._update(key, decide)

    def set(self, key: Any, value: Any) -> Any:
        """Groups and anything else Celery sets: written whatever is stored, under the same lock
        move (Celery's session-locked create would be refused on a key another session holds)."""
        consul_key = self._key_to_consul_key(key)
        now_ms = int(time.time() * 1000)
        expires = self._expires_ms(now_ms)
        text = bytes_to_str(value)
        return self._update(consul_key, lambda entry: (text, expires, True))

    # --- reads, counters --------------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> Dict[str, Any]:
        """Celery's meta as stored (ours carry ``metadata``); an expired record reads as PENDING."""
        entry = self._kv_get(self._key_to_consul_key(self.get_key_for_task(task_id)))
        if not entry or not entry[0]:
            return {"status": states.PENDING, "result": None}
        meta = json_loads(entry[0])
        expires = parse_date_ms(meta.get("expires_at"))
        if expires is not None and expires <= int(time.time() * 1000):
            return {"status": states.PENDING, "result": None}
        meta.setdefault("metadata", {})
        return self.meta_from_decoded(meta)

    def incr(self, key: Any, by: int = 1) -> int:  # type: ignore[override]
        """Adds ``by`` to the counter atomically (check-and-set; restarted once expired): the Node
        backend's ``{"count": N, "expires_at": …}`` value under the same key."""
        consul_key = self._key_to_consul_key(key)

        def decide(entry: Optional[Entry]) -> Any:
            now_ms = int(time.time() * 1000)
            count = 0
            if entry and entry[0]:
                stored = json_loads(entry[0])
                expires = parse_date_ms(stored.get("expires_at"))
                if expires is None or expires > now_ms:
                    count = int(stored["count"])
            count += by
            expires_ms = self._expires_ms(now_ms)
            expiry = json_dumps(celery_date(expires_ms) if expires_ms is not None else None)
            return f'{{"count": {count}, "expires_at": {expiry}}}', expires_ms, count

        return self._update(consul_key, decide)

    def add_to_set(self, key: str, member: str) -> int:
        """Adds ``member`` to the set ``<prefix>/resultstore-sets/<key>`` by check-and-set (an
        expired set restarts empty): the Node backend's ``{"members": [...], "expires_at": …}``.
        Written even when the member is there (its expiry moves), so the size answered is the one
        a committed check-and-set saw."""
        consul_key = self._key_to_consul_key(f"{SETS_FOLDER}{key}")

        def decide(entry: Optional[Entry]) -> Any:
            now_ms = int(time.time() * 1000)
            members: List[str] = []
            if entry and entry[0]:
                stored = json_loads(entry[0])
                if not isinstance(stored, dict) or not isinstance(stored.get("members"), list):
                    raise ResultStoreError("consul", f"Stored set {key} has no list of members.")
                expires = parse_date_ms(stored.get("expires_at"))
                if expires is None or expires > now_ms:
                    members = stored["members"]
            if member not in members:
                members.append(member)
            expires_ms = self._expires_ms(now_ms)
            expiry = json_dumps(celery_date(expires_ms) if expires_ms is not None else None)
            return f'{{"members": {json_dumps(members)}, "expires_at": {expiry}}}', expires_ms, len(members)

        return self._update(consul_key, decide)


def _write_ops(key: str, entry: Optional[Entry], session: Optional[str], value: str) -> List[Dict[str, Any]]:
    """store.ts ``writeOps``: the guard, then what moves the key from its holder to ``session``."""
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    ops: List[Dict[str, Any]] = [
        {"Verb": "check-index", "Key": key, "Index": entry[1]} if entry else {"Verb": "check-not-exists", "Key": key}
    ]
    held = entry[2] if entry else None
    if held == session:
        ops.append({"Verb": "set", "Key": key, "Value": encoded})
        return ops
    if held:
        unlock: Dict[str, Any] = {"Verb": "unlock", "Key": key, "Session": held}
        if not session:
            unlock["Value"] = encoded
        ops.append(unlock)
    if session:
        ops.append({"Verb": "lock", "Key": key, "Value": encoded, "Session": session})
    return ops


def _date_or_none(ms: Optional[int]) -> Optional[str]:
    return celery_date(ms) if ms is not None else None


def _decode_record(value: str, task_id: str) -> Optional[Dict[str, Any]]:
    if not value:
        return None
    meta = json_loads(value)
    if not isinstance(meta, dict) or not isinstance(meta.get("status"), str):
        raise ResultStoreError("consul", f"Stored meta for {task_id} is not a Celery meta object.")
    return record_from_meta(meta, task_id)


def _stored_write_id(value: str) -> Optional[str]:
    try:
        meta = json_loads(value)
    except ValueError:
        return None
    return meta.get("write_id") if isinstance(meta, dict) else None
