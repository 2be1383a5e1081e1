"""Cosmos DB (SQL API): Celery's CosmosDBSQLBackend, with every write an ETag-guarded replace (or a
create for a new task) instead of Celery's ``CreateDocument``.

Celery creates each document once, so a task's second write (STARTED, then SUCCESS) fails with 409
and the task stays in its first state. Here a write reads the document, applies the state rules
and the merge (records.py) and replaces it under ``If-Match: <_etag>``; a 412 (someone wrote in
between) or 409 (someone created it first) reads again. The document is exactly what
@resultstore/backend-cosmos stores (packages/backend-cosmos/src/records.ts): ``id``, ``value``
(Celery's meta JSON, what Celery reads), ``status``, ``name``, ``updated_at`` (epoch ms: the
last write, which ``find`` orders by), ``metadata``, ``expires_at`` (epoch ms), ``ttl`` (seconds,
Cosmos DB's own expiry) and ``write_id``.
"""

import math
import time
from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import quote

from celery import states
from celery.backends.cosmosdbsql import CosmosDBSQLBackend as CeleryCosmosBackend
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads as json_loads
from pydocumentdb.errors import HTTPFailure

from ._base import RulesMixin
from .chords import SET_KEY_PREFIX, MemberSetChords
from .errors import ResultStoreError
from .records import apply_write, encode_meta, record_from_meta

NOT_FOUND, CONFLICT, PRECONDITION_FAILED = 404, 409, 412
MAX_ROUNDS = 50

Doc = Dict[str, Any]


def expiry_fields(expires_ms: Optional[int], now_ms: int) -> Dict[str, Any]:
    """records.ts ``expiryFields``: ``ttl`` in whole seconds from the write, rounded up; -1 never."""
    if expires_ms is None:
        return {"expires_at": None, "ttl": -1}
    return {"expires_at": expires_ms, "ttl": max(1, math.ceil((expires_ms - now_ms) / 1000))}


def document_expiry_ms(doc: Doc) -> Optional[int]:
    if isinstance(doc.get("expires_at"), (int, float)):
        return int(doc["expires_at"])
    ttl, ts = doc.get("ttl"), doc.get("_ts")
    if isinstance(ttl, (int, float)) and ttl > 0 and isinstance(ts, (int, float)):
        return int((ts + ttl) * 1000)
    return None


class CosmosDBSQLBackend(RulesMixin, MemberSetChords, CeleryCosmosBackend):
    """``resultstore+cosmosdbsql://…``: Celery's CosmosDBSQLBackend under resultstore's state rules."""

    backend_name = "cosmos"
    implements_incr = True

    @classmethod
    def _parse_url(cls, url: str) -> Tuple[str, str]:
        # The Node backend speaks https on every port (Celery: only on 443); so does this one.
        endpoint, key = super()._parse_url(url)
        if endpoint.startswith("http://"):
            endpoint = "https://" + endpoint[len("http://"):]
        return endpoint, key

    # --- documents ------------------------------------------------------------------------------

    def _read(self, key: str) -> Optional[Doc]:
        try:
            return self._client.ReadDocument(self._get_document_link(key), self._get_partition_key(key))
        except HTTPFailure as exc:
            if exc.status_code == NOT_FOUND or _missing_500(exc):
                return None
            raise

    def _create(self, key: str, doc: Doc) -> bool:
        try:
            self._client.CreateDocument(self._collection_link, doc, self._get_partition_key(key))
            return True
        except HTTPFailure as exc:
            if exc.status_code == CONFLICT:
                return False
            raise

    def _replace(self, key: str, doc: Doc, etag: str) -> bool:
        options = dict(self._get_partition_key(key))
        options["accessCondition"] = {"type": "IfMatch", "condition": etag}
        try:
            self._client.ReplaceDocument(self._get_document_link(key), doc, options)
            return True
        except HTTPFailure as exc:
            if exc.status_code in (PRECONDITION_FAILED, NOT_FOUND):
                return False
            raise

    def _update(self, key: str, decide: Callable[[Optional[Doc]], Any]) -> Any:
        """Read, decide, write under the ETag read (create when absent); again on a lost race."""
        for _ in range(MAX_ROUNDS):
            stored = self._read(key)
            change = decide(stored)
            if not isinstance(change, tuple):
                return change  # nothing to write: the answer
            doc, result = change
            landed = self._replace(key, doc, stored["_etag"]) if stored else self._create(key, doc)
            if landed:
                return result
        raise ResultStoreError("cosmos", f"write of {key}: lost {MAX_ROUNDS} races")

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
        meta = self._request_meta(result, state, traceback, request, fields)
        now_ms = int(time.time() * 1000)
        write = self._write_record(task_id, state, meta, traceback, metadata, now_ms)
        key = bytes_to_str(self.get_key_for_task(task_id))

        def decide(doc: Optional[Doc]) -> Any:
            stored = _record(doc, task_id) if doc else None
            nxt = apply_write(stored, write, int(time.time() * 1000))
            if nxt is None:
                if not (write_id and doc and doc.get("write_id") == write_id):
                    self._refused(task_id, state, stored and stored["status"])
                return result
            new_doc: Doc = {
                "id": key,
                "value": encode_meta({**nxt, "metadata": {}}, {}),
                "status": nxt["status"],
                "name": nxt.get("name"),
                "updated_at": nxt["updated_at"],
                "metadata": nxt["metadata"],
                **expiry_fields(nxt["expires_at"], int(time.time() * 1000)),
            }
            if write_id:
                new_doc["write_id"] = write_id
            return new_doc, result

        return self._update(key, decide)

    def set(self, key: Any, value: Any) -> None:
        """Groups and anything else Celery sets: upserted (Celery's create fails on a re-save)."""
        key = bytes_to_str(key)
        now_ms = int(time.time() * 1000)
        doc = {"id": key, "value": bytes_to_str(value), **expiry_fields(self._expires_ms(now_ms), now_ms)}
        self._client.UpsertDocument(self._collection_link, doc, self._get_partition_key(key))

    def get(self, key: Any) -> Any:
        # The local server answers 500 instead of 404 for a missing document (see _missing_500).
        doc = self._read(bytes_to_str(key))
        return doc.get("value") if doc else None

    # --- reads, counters --------------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> Dict[str, Any]:
        """Celery's meta from ``value``, with our ``metadata``; an expired record reads as PENDING."""
        doc = self._read(bytes_to_str(self.get_key_for_task(task_id)))
        if not doc or not doc.get("value"):
            return {"status": states.PENDING, "result": None}
        expires = document_expiry_ms(doc)
        if expires is not None and expires <= int(time.time() * 1000):
            return {"status": states.PENDING, "result": None}
        meta = json_loads(doc["value"]) if isinstance(doc["value"], str) else dict(doc["value"])
        meta["metadata"] = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        return self.meta_from_decoded(meta)

    def incr(self, key: Any, by: int = 1) -> int:  # type: ignore[override]
        """Adds ``by`` to the counter document ``{id, count, expires_at, ttl}`` (the Node
        backend's), by an ETag-guarded replace; an expired counter restarts from zero."""
        key = bytes_to_str(key)

        def decide(doc: Optional[Doc]) -> Any:
            now_ms = int(time.time() * 1000)
            live = doc and (doc.get("expires_at") is None or doc["expires_at"] > now_ms)
            count = (int(doc["count"]) if live else 0) + by
            return {"id": key, "count": count, **expiry_fields(self._expires_ms(now_ms), now_ms)}, count

        return self._update(key, decide)

    def add_to_set(self, key: str, member: str) -> int:
        """Adds ``member`` to the set document ``resultstore-set-<key>``, ``{id, members:
        {<property>: true}, expires_at, ttl}`` (the Node backend's), by an ETag-guarded replace;
        an expired set restarts empty. The Node backend patches the document instead; Celery's
        client (pydocumentdb) has no patch, and the guarded replace is as atomic."""
        key = f"{SET_KEY_PREFIX}{key}"
        prop = member_property(member)

        def decide(doc: Optional[Doc]) -> Any:
            now_ms = int(time.time() * 1000)
            live = doc and (doc.get("expires_at") is None or doc["expires_at"] > now_ms)
            members = dict(doc.get("members") or {}) if live else {}
            members[prop] = True
            return {"id": key, "members": members, **expiry_fields(self._expires_ms(now_ms), now_ms)}, len(members)

        return self._update(key, decide)


def member_property(member: str) -> str:
    """records.ts ``memberProperty``: ``m`` and the member percent-encoded down to letters,
    digits, ``-``, ``_`` and ``%`` (JavaScript's encodeURIComponent, then ``.!~*'()`` too)."""
    return "m" + quote(member, safe="").replace(".", "%2E").replace("~", "%7E")


def _record(doc: Doc, task_id: str) -> Optional[Dict[str, Any]]:
    value = doc.get("value")
    meta = json_loads(value) if isinstance(value, str) else value
    if not isinstance(meta, dict) or not isinstance(meta.get("status"), str):
        raise ResultStoreError("cosmos", f"Stored meta for {task_id} is not a Celery meta object.")
    record = record_from_meta(meta, task_id)
    if isinstance(doc.get("metadata"), dict):
        record["metadata"] = doc["metadata"]
    record["expires_at"] = document_expiry_ms(doc)
    updated_at = doc.get("updated_at")
    record["updated_at"] = int(updated_at) if isinstance(updated_at, (int, float)) else None
    return record


def _missing_500(exc: HTTPFailure) -> bool:
    # @vercel/cosmosdb-server 1.0.1 answers a read of a MISSING document in a partitioned
    # collection with 500 "Cannot read properties of undefined (reading 'id')"; Cosmos DB says 404.
    return exc.status_code == 500 and "reading 'id'" in str(exc)
