"""Elasticsearch: Celery's ElasticsearchBackend, with every task write guarded by the document's
version (``if_seq_no``/``if_primary_term``, or ``op_type=create`` for a new task) and decided by
the state rules on the record read just before (records.py).

Celery guards SUCCESS (and ready-vs-unready) with a GET and then a guarded partial update, but a
FAILURE or REVOKED can still be replaced, and its partial ``{"doc": …}`` keeps nothing of ours in
its meta. Here the whole document is rewritten under the version read, so "read, decide, write"
is one atomic step; a 409 reads again. The document is exactly what
@resultstore/backend-elasticsearch stores (packages/backend-elasticsearch/src/records.ts):
``result`` (Celery's meta JSON text, what Celery reads), ``@timestamp``, ``status``,
``date_done``, ``expires_at``, ``metadata`` (JSON text) and ``write_id`` (the recent writes' ids),
and what ``find`` queries: ``task_id``, ``name``, ``metadata_terms`` and ``@timestamp`` as the
write's time.
"""

import hashlib
import math
import struct
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

from celery import states
from celery.backends.elasticsearch import ElasticsearchBackend as CeleryElasticsearchBackend
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps as json_dumps
from kombu.utils.json import loads as json_loads

from ._base import RulesMixin
from .chords import MemberSetChords
from .errors import IncrementOutcomeUnknownError, ResultStoreError
from .records import apply_write, encode_meta, parse_date_ms, record_from_meta

#: How many write ids a document keeps (records.ts RECENT_WRITE_IDS).
RECENT_WRITE_IDS = 16
MAX_ROUNDS = 50

#: The fields ``find`` queries, added to an index that exists (client.ts FIND_FIELDS).
FIND_FIELDS = {
    "task_id": {"type": "keyword"},
    "name": {"type": "keyword", "ignore_above": 8191},
    "metadata_terms": {"type": "keyword"},
}

#: The mapping of an index we create (client.ts INDEX_MAPPINGS).
INDEX_MAPPINGS = {
    "dynamic": False,
    "properties": {
        **FIND_FIELDS,
        "result": {"type": "object", "enabled": False},
        "metadata": {"type": "object", "enabled": False},
        "@timestamp": {"type": "date"},
        "status": {"type": "keyword"},
        "date_done": {"type": "date"},
        "expires_at": {"type": "date"},
        "kind": {"type": "keyword"},
        "count": {"type": "long"},
        "write_id": {"type": "keyword", "index": False, "doc_values": False},
        "created_by": {"type": "keyword", "index": False, "doc_values": False},
    },
}

Doc = Dict[str, Any]


def iso_ms(ms: Optional[int]) -> Optional[str]:
    """JavaScript's ``toISOString()``: ``2024-05-01T12:00:00.123Z``."""
    if ms is None:
        return None
    date = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return date.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


#: Longest metadata term kept as it is (records.ts MAX_TERM_BYTES).
MAX_TERM_BYTES = 256
#: Integers JavaScript reads as numbers; larger ones it keeps as BigInt, which ``find`` never matches.
MAX_SAFE_INTEGER = 2**53 - 1


def metadata_term(key: str, value: Any) -> Optional[str]:
    """records.ts ``metadataTerm``: key, NUL, a type letter and the value (``s`` text, ``b``
    true/false, ``n`` the float64 bits in hex, -0 as 0); ``#`` and the SHA-256 of that over 256
    bytes; None for values ``find`` cannot ask for (lists, dicts, dates, NaN, big integers)."""
    if isinstance(value, str):
        typed = "s" + value
    elif isinstance(value, bool):
        typed = "b" + ("true" if value else "false")
    elif isinstance(value, int) and abs(value) <= MAX_SAFE_INTEGER:
        typed = "n" + struct.pack(">d", float(value) or 0.0).hex()
    elif isinstance(value, float) and math.isfinite(value) and not _unsafe_integer(value):
        typed = "n" + struct.pack(">d", value or 0.0).hex()
    else:
        return None
    term = f"{key}\u0000{typed}"
    encoded = term.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_TERM_BYTES:
        return term
    return "#" + hashlib.sha256(encoded).hexdigest()


def _unsafe_integer(value: float) -> bool:
    """An integral float beyond 2^53, which the Node side never indexes (records.ts)."""
    return value.is_integer() and abs(value) > MAX_SAFE_INTEGER


def metadata_terms(metadata: Optional[dict]) -> List[str]:
    """The terms of every top-level metadata value ``find`` can match."""
    terms = (metadata_term(key, value) for key, value in (metadata or {}).items())
    return [term for term in terms if term is not None]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _with_write_id(before: List[str], write_id: str) -> List[str]:
    return ([i for i in before if i != write_id] + [write_id])[-RECENT_WRITE_IDS:]


def _creator(source: Doc) -> Optional[str]:
    value = source.get("created_by")
    return value if isinstance(value, str) else None


def _recent_write_ids(source: Doc) -> List[str]:
    value = source.get("write_id")
    if isinstance(value, str):
        return [value]
    return [i for i in value if isinstance(i, str)] if isinstance(value, list) else []


class ElasticsearchBackend(RulesMixin, MemberSetChords, CeleryElasticsearchBackend):
    """``resultstore+elasticsearch://…``: Celery's ElasticsearchBackend under resultstore's rules."""

    backend_name = "elasticsearch"
    implements_incr = True
    _index_ready = False

    # --- documents ------------------------------------------------------------------------------

    def _ensure_index(self) -> None:
        """Our index, created with our mapping by the first write (as the Node backend's)."""
        if self._index_ready:
            return
        from elasticsearch import exceptions

        try:
            self.server.indices.create(index=self.index, mappings=INDEX_MAPPINGS)
        except exceptions.BadRequestError as exc:
            if "resource_already_exists" not in str(exc):
                raise
            # An index created before ``find`` (or by Celery): add its fields, as the Node backend does.
            self.server.indices.put_mapping(index=self.index, properties=FIND_FIELDS)
        self._index_ready = True

    def _read(self, doc_id: str) -> Optional[Doc]:
        from elasticsearch import exceptions

        try:
            return dict(self.server.get(index=self.index, id=doc_id, realtime=True))
        except exceptions.NotFoundError:
            return None

    def _write(self, doc_id: str, body: Doc, stored: Optional[Doc]) -> bool:
        """Create (no document read) or replace under the version read; False on a 409."""
        from elasticsearch import exceptions

        try:
            if stored is None:
                self.server.index(index=self.index, id=doc_id, document=body, op_type="create")
            else:
                self.server.index(
                    index=self.index,
                    id=doc_id,
                    document=body,
                    if_seq_no=stored["_seq_no"],
                    if_primary_term=stored["_primary_term"],
                )
            return True
        except exceptions.ConflictError:
            return False

    def _update(self, doc_id: str, decide: Callable[[Optional[Doc]], Any]) -> Any:
        self._ensure_index()
        for _ in range(MAX_ROUNDS):
            stored = self._read(doc_id)
            change = decide(stored)
            if not isinstance(change, tuple):
                return change
            body, result = change
            if self._write(doc_id, body, stored):
                return result
        raise ResultStoreError("elasticsearch", f"write of {doc_id}: lost {MAX_ROUNDS} races")

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
        if not self.es_save_meta_as_text:
            raise ResultStoreError(
                "elasticsearch", "elasticsearch_save_meta_as_text=False is not supported yet."
            )
        meta = self._request_meta(result, state, traceback, request, fields)
        now_ms = _now_ms()
        write = self._write_record(task_id, state, meta, traceback, metadata, now_ms)
        doc_id = bytes_to_str(self.get_key_for_task(task_id))

        def decide(stored_doc: Optional[Doc]) -> Any:
            source = stored_doc["_source"] if stored_doc else None
            recorded = _recent_write_ids(source) if source else []
            if write_id and write_id in recorded:
                return result  # this very call, sent again after it landed
            stored = _record(source, task_id) if source else None
            nxt = apply_write(stored, write, _now_ms())
            if nxt is None:
                self._refused(task_id, state, stored and stored["status"])
                return result
            body = {
                "result": encode_meta({**nxt, "metadata": {}}, {}),
                # The write's time (core's updatedAt), which find orders and filters by.
                "@timestamp": iso_ms(now_ms),
                "task_id": task_id,
                "name": nxt.get("name"),
                "status": nxt["status"],
                "date_done": iso_ms(nxt["date_done"]),
                "expires_at": iso_ms(nxt["expires_at"]),
                "metadata": json_dumps(nxt["metadata"]) if nxt["metadata"] else None,
                "metadata_terms": metadata_terms(nxt["metadata"]),
                "write_id": _with_write_id(recorded, write_id) if write_id else recorded,
                # The write that created the document, kept by every later one: the Node backend
                # settles a conflicting create by it.
                "created_by": _creator(source) if source else write_id,
            }
            return body, result

        return self._update(doc_id, decide)

    # --- reads, counters --------------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> Dict[str, Any]:
        """Celery's meta from ``result``, with our ``metadata``; an expired record reads as PENDING."""
        doc = self._read(bytes_to_str(self.get_key_for_task(task_id)))
        if not doc:
            return {"status": states.PENDING, "result": None}
        source = doc["_source"]
        expires = parse_date_ms(source.get("expires_at"))
        if expires is not None and expires <= _now_ms():
            return {"status": states.PENDING, "result": None}
        record = _record(source, task_id)
        meta = json_loads(source["result"]) if isinstance(source.get("result"), str) else dict(source["result"])
        meta["metadata"] = record["metadata"] if record else {}
        return self.meta_from_decoded(meta)

    def incr(self, key: Any, by: int = 1) -> int:  # type: ignore[override]
        """Adds ``by`` to the counter document ``{kind: "counter", count, …}`` (the Node
        backend's) under its version; an expired counter restarts from zero.

        elastic-transport re-sends a write whose answer a dropped connection lost, and the copy
        it re-sends meets its own first copy as a 409. So every 409 is settled (the Node backend's
        attempts.ts) before another round: the increment's id among the document's writers means
        it landed; a version that moved by at most ``RECENT_WRITE_IDS`` without it means it did
        not; anything else is ``IncrementOutcomeUnknownError``, never a second count."""
        doc_id = bytes_to_str(key)
        increment_id = str(uuid.uuid4())
        self._ensure_index()
        conflict = False  # the last write met a 409, not settled yet
        base: Optional[Doc] = None  # what that write was guarded on (None: it was a create)
        count = 0  # the count that write would have set
        for _ in range(MAX_ROUNDS):
            try:
                stored = self._read(doc_id)
            except Exception as exc:
                if not conflict:
                    raise
                raise _uncertain(doc_id) from exc
            if conflict:
                settled = _settle(base, increment_id, stored)
                if settled == "landed":
                    return count
                if settled == "unknown":
                    raise _uncertain(doc_id)
            now_ms = _now_ms()
            count = _live_count(stored, doc_id, now_ms) + by
            source = stored["_source"] if stored else None
            body = {
                "kind": "counter",
                "count": count,
                "@timestamp": iso_ms(now_ms),
                "expires_at": iso_ms(self._expires_ms(now_ms)),
                "write_id": _with_write_id(_recent_write_ids(source) if source else [], increment_id),
                "created_by": _creator(source) if source else increment_id,
            }
            if self._write(doc_id, body, stored):
                return count
            conflict, base = True, stored
        raise ResultStoreError("elasticsearch", f"incr of {doc_id}: lost {MAX_ROUNDS} races")

    def add_to_set(self, key: str, member: str) -> int:
        """Adds ``member`` to the set document ``set/<key>``, ``{kind: "set", members, …}`` (the
        Node backend's, members in the order they were added), under its version; an expired set
        restarts empty. The size answered is the one the write stored."""
        doc_id = f"{self._global_key_prefix()}set/{key}"

        def decide(stored: Optional[Doc]) -> Any:
            now_ms = _now_ms()
            members: List[str] = []
            if stored:
                source = stored["_source"]
                if source.get("kind") != "set" or not isinstance(source.get("members"), list):
                    raise ResultStoreError("elasticsearch", f"The document at set key {key} is not a set.")
                expires = parse_date_ms(source.get("expires_at"))
                if expires is None or expires > now_ms:
                    members = [m for m in source["members"] if isinstance(m, str)]
            if member not in members:
                members.append(member)
            body = {
                "kind": "set",
                "members": members,
                "@timestamp": iso_ms(now_ms),
                "expires_at": iso_ms(self._expires_ms(now_ms)),
            }
            return body, len(members)

        return self._update(doc_id, decide)


def _live_count(stored: Optional[Doc], doc_id: str, now_ms: int) -> int:
    """The stored count at ``now_ms``, 0 for none or an expired counter."""
    if not stored:
        return 0
    source = stored["_source"]
    if source.get("kind") != "counter" or not isinstance(source.get("count"), int):
        raise ResultStoreError("elasticsearch", f"The document at counter key {doc_id} is not a counter.")
    expires = parse_date_ms(source.get("expires_at"))
    return 0 if expires is not None and expires <= now_ms else source["count"]


def _settle(base: Optional[Doc], write_id: str, stored: Optional[Doc]) -> str:
    """Whether a write tagged ``write_id`` that met a 409 landed, from ``stored`` (the document
    read after it; ``base``: what it was guarded on, None for a create): "landed", "not landed"
    or "unknown" (attempts.ts ``settle``; every write raises ``_version`` by one)."""
    if stored is None:
        return "not landed"  # deleted since: whatever it did went with the document
    source = stored["_source"]
    if write_id == _creator(source) or write_id in _recent_write_ids(source):
        return "landed"
    if base is None:
        return "not landed"  # a create that landed is the document's creator
    gap = stored.get("_version", -1) - base.get("_version", -1)
    if base.get("_version", -1) >= 0 and 0 <= gap <= RECENT_WRITE_IDS:
        return "not landed"  # it would still be among the recent writers
    # The client may have re-sent it (elastic-transport does not say), so it may have landed.
    return "unknown"


def _uncertain(doc_id: str) -> IncrementOutcomeUnknownError:
    return IncrementOutcomeUnknownError(
        "elasticsearch",
        doc_id,
        "an attempt met a conflict that a copy of it sent twice can explain, and the counter "
        "no longer shows whether it landed",
    )


def _record(source: Doc, task_id: str) -> Optional[Dict[str, Any]]:
    value = source.get("result")
    meta = json_loads(value) if isinstance(value, str) else value
    if not isinstance(meta, dict) or not isinstance(meta.get("status"), str):
        raise ResultStoreError("elasticsearch", f"The document of task {task_id} has no Celery meta in \"result\".")
    record = record_from_meta(meta, task_id)
    metadata = source.get("metadata")
    record["metadata"] = json_loads(metadata) if isinstance(metadata, str) else (metadata or {})
    record["expires_at"] = parse_date_ms(source.get("expires_at"))
    return record
