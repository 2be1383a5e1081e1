"""MongoDB: Celery's MongoBackend, with every task write ONE filtered ``update_one`` (``$set``,
``upsert``) instead of ``replace_one``.

The filter admits only a stored document the state rules let change (and not an expired one), so
MongoDB checks and merges in one atomic step; when it excludes the stored document, the upsert's
insert collides with its ``_id`` (E11000), which means "refused". The document is exactly what
@resultstore/backend-mongo writes for the same call (packages/backend-mongo/src/records.ts):
Celery's fields, plus ``metadata`` (merged key by key), ``updated_at``, ``expires_at`` and
``write_id``.
"""

import warnings
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Optional

from celery import states
from celery.backends.mongodb import MongoBackend as CeleryMongoBackend
from kombu.exceptions import EncodeError
from kombu.utils.json import dumps as json_dumps
from kombu.utils.json import loads as json_loads
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, InvalidDocument, OperationFailure

from ._base import RulesMixin
from .chords import MemberSetChords
from .errors import UnsafeEngineWarning
from .rules import can_transition, expires_at, states_refusing, utcnow

#: Our field beside Celery's: when the record expires (a date, or null for never).
EXPIRES_FIELD = "expires_at"
#: Our field holding when a task document was last written (find's time; Celery's have none).
UPDATED_FIELD = "updated_at"
#: Our field naming the call that wrote a task document last.
WRITE_ID_FIELD = "write_id"
#: Celery's reader indexes all six with result_extended, so every document has them (null allowed).
EXTENDED_FIELDS = ("name", "args", "kwargs", "worker", "retries", "queue")
#: Lost insert races retried by ``incr`` before giving up.
_RACE_ROUNDS = 8


def unsafe_engine_warning(ferretdb_version: Optional[str]) -> Optional[str]:
    """The Node backend's ``unsafeEngineWarning``: FerretDB 1.x runs an update as an unlocked read
    and write, so concurrent updates of one document are lost (PROOF.md). None for other engines."""
    version = (ferretdb_version or "").lstrip("v")
    if not version.startswith("1."):
        return None
    return (
        f"UNSAFE ENGINE: FerretDB {version} loses concurrent updates of one document (an update is "
        "an unlocked read and write), so the state rules, counters and chords do not hold under "
        "concurrency. Use MongoDB, or an engine with atomic updates."
    )


class MongoBackend(RulesMixin, MemberSetChords, CeleryMongoBackend):
    """``resultstore+mongodb://…``: Celery's MongoBackend under resultstore's state rules."""

    backend_name = "mongodb"

    def __init__(self, app: Any = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        # Popped by Celery? No: unknown keys of mongodb_backend_settings become client options, so
        # ours are read (and removed from the client options) here.
        config = dict(self.app.conf.get("mongodb_backend_settings") or {})
        # @resultstore/backend-mongo's defaults: "<namespace>_counters" and "<namespace>_sets"
        # beside "<namespace>_taskmeta".
        base = self.taskmeta_collection
        prefix = base[: -len("_taskmeta")] if base.endswith("_taskmeta") else "celery"
        self.options.pop("counters_collection", None)
        self.options.pop("sets_collection", None)
        self.counters_collection_name = config.get("counters_collection") or f"{prefix}_counters"
        self.sets_collection_name = config.get("sets_collection") or f"{prefix}_sets"
        self._layout: Optional[Dict[str, bool]] = None

    # --- engine quirks (as the Node backend's Layout) -------------------------------------------

    @property
    def layout(self) -> Dict[str, bool]:
        """FerretDB 1.x cannot nest arrays and drops ``$setOnInsert`` nulls (see records.ts)."""
        if self._layout is None:
            try:
                info = self.database.client.admin.command("buildInfo")
                ferret = isinstance(info.get("ferretdbVersion"), str)
            except OperationFailure:
                info, ferret = {}, False  # buildInfo refused (restricted user): assume MongoDB
            warning = unsafe_engine_warning(info.get("ferretdbVersion") if ferret else None)
            if warning:
                warnings.warn(warning, UnsafeEngineWarning, stacklevel=2)
            self._layout = {"nested_arrays": not ferret, "inserts_nulls": not ferret}
        return self._layout

    # --- filters ------------------------------------------------------------------------------

    def _expired_filter(self, now: datetime, celery_expires: bool = True) -> Dict[str, Any]:
        """Expired at ``now``: our ``expires_at`` passed, or (a document Celery wrote, without it)
        ``date_done`` older than ``result_expires``, which Celery's own cleanup deletes."""
        ours = {EXPIRES_FIELD: {"$lte": now}}
        if not celery_expires or not self.expires:
            return ours
        celerys = {
            EXPIRES_FIELD: {"$exists": False},
            "date_done": {"$lt": now - timedelta(seconds=self.expires)},
        }
        return {"$or": [ours, celerys]}

    def _live_filter(self, now: datetime, celery_expires: bool = True) -> Dict[str, Any]:
        return {"$nor": [self._expired_filter(now, celery_expires)]}

    # --- writes ---------------------------------------------------------------------------------

    def _encode_update(
        self, meta: Dict[str, Any], write_id: Optional[str], metadata: Optional[dict], now: datetime
    ) -> Dict[str, Any]:
        """records.ts ``encodeTask`` for a Celery meta: ``$set`` what the write carries,
        ``$setOnInsert`` nulls for what a new document would otherwise lack."""
        layout = self.layout
        set_: Dict[str, Any] = {
            "status": meta["status"],
            "result": meta["result"],
            "traceback": meta["traceback"],
            "date_done": meta["date_done"],
            # As core stamps it: the write's moment, the same instant as date_done when ready.
            UPDATED_FIELD: meta["date_done"] if isinstance(meta["date_done"], datetime) else now,
            EXPIRES_FIELD: expires_at(now, self.expires),
        }
        on_insert: Dict[str, Any] = {}
        children = meta.get("children")
        if children is None:
            # No request: Celery does not know the children, so the stored ones stay.
            on_insert["children"] = None
        else:
            children = [list(c) if isinstance(c, tuple) else c for c in children]
            set_["children"] = children if layout["nested_arrays"] else json_dumps(children)
        if meta.get("group_id"):
            set_["group_id"] = meta["group_id"]
        if meta.get("parent_id"):
            set_["parent_id"] = meta["parent_id"]
        if write_id:
            set_[WRITE_ID_FIELD] = write_id
        for field in EXTENDED_FIELDS:
            if field in meta:
                value = meta[field]
                set_[field] = list(value) if isinstance(value, tuple) else value
            else:
                on_insert[field] = None
        for key, value in (metadata or {}).items():
            set_[f"metadata.{key}"] = value
        if not metadata:
            on_insert["metadata"] = {}
        update: Dict[str, Any] = {"$set": set_}
        if not layout["inserts_nulls"]:
            # $max sets a missing field and never replaces a stored one (null sorts lowest).
            nulls = [f for f, v in on_insert.items() if v is None]
            for field in nulls:
                del on_insert[field]
            if nulls:
                update["$max"] = {field: None for field in nulls}
        if on_insert:
            update["$setOnInsert"] = on_insert
        return update

    def _guarded_upsert(self, task_id: str, state: str, update: Dict[str, Any], now: datetime) -> bool:
        flt = {"_id": task_id, "status": {"$nin": list(states_refusing(state))}}
        flt.update(self._live_filter(now))
        try:
            self.collection.update_one(flt, update, upsert=True)
            return True
        except DuplicateKeyError:
            return False  # the filter excluded the stored document: see _store_result
        except InvalidDocument as exc:
            raise EncodeError(exc) from exc

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
        meta = self._get_result_meta(
            result=self.encode(result),
            state=state,
            traceback=traceback,
            request=request,
            format_date=False,
        )
        meta.update(fields or {})  # mark_queued's request fields
        now = utcnow()
        update = self._encode_update(meta, write_id, metadata, now)
        if self._guarded_upsert(task_id, state, update, now):
            return result
        # The insert collided with a stored document. Most often it is live and refuses the write;
        # otherwise it expired (it counts as absent: deleted, and the write starts afresh) or a
        # concurrent writer inserted it first. One more guarded attempt settles either.
        live_filter = {"_id": task_id}
        live_filter.update(self._live_filter(now))
        live = self.collection.find_one(live_filter, {"status": 1, WRITE_ID_FIELD: 1})
        if live and write_id and live.get(WRITE_ID_FIELD) == write_id:
            return result  # this very call, sent again after it landed
        if live and not can_transition(live.get("status"), state):
            self._refused(task_id, state, live.get("status"))
            return result
        if not live:
            expired = {"_id": task_id}
            expired.update(self._expired_filter(now))
            self.collection.delete_one(expired)
        if not self._guarded_upsert(task_id, state, update, now):
            self._refused(task_id, state, None)
        return result

    # --- reads ----------------------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> Dict[str, Any]:
        """Celery's reader, for documents from either side: JSON-text children (FerretDB) decoded,
        an expired record read as PENDING, and our ``metadata`` returned beside Celery's keys."""
        obj = self.collection.find_one({"_id": task_id})
        if not obj or self._is_expired(obj, utcnow()):
            return {"status": states.PENDING, "result": None}
        children = obj.get("children")
        if isinstance(children, str):
            children = json_loads(children)
        meta: Dict[str, Any] = {
            "task_id": obj["_id"],
            "status": obj.get("status"),
            "result": self.decode(obj["result"]) if obj.get("result") is not None else None,
            "date_done": obj.get("date_done"),
            "traceback": obj.get("traceback"),
            "children": children,
        }
        if self.app.conf.find_value_for_key("extended", "result"):
            for field in EXTENDED_FIELDS:
                meta[field] = obj.get(field)
        meta["metadata"] = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        return self.meta_from_decoded(meta)

    def _is_expired(self, doc: Dict[str, Any], now: datetime) -> bool:
        if EXPIRES_FIELD in doc:
            value = doc[EXPIRES_FIELD]
            return isinstance(value, datetime) and _aware(value) <= now
        done = doc.get("date_done")
        if not self.expires or not isinstance(done, datetime):
            return False
        return _aware(done) + timedelta(seconds=self.expires) <= now

    # --- counters, groups, cleanup --------------------------------------------------------------

    @property
    def counters_collection(self) -> Any:
        return self.database[self.counters_collection_name]

    @property
    def sets_collection(self) -> Any:
        return self.database[self.sets_collection_name]

    def incr(self, key: str, by: int = 1) -> int:  # type: ignore[override]
        """Adds ``by`` to counter ``key`` atomically (created at 0, restarted once expired) and
        returns the new value: the Node backend's ``<namespace>_counters`` document."""
        key = key.decode() if isinstance(key, bytes) else key
        doc = self._upsert_live(
            self.counters_collection,
            key,
            lambda now: {"$inc": {"value": by}, "$set": {EXPIRES_FIELD: expires_at(now, self.expires)}},
        )
        return int(doc["value"])

    def add_to_set(self, key: str, member: str) -> int:
        """``$addToSet`` on the live set document (or a new one holding just ``member``) in
        ``<namespace>_sets``, and its size after: the Node backend's ``addToSet``."""
        doc = self._upsert_live(
            self.sets_collection,
            key,
            lambda now: {"$addToSet": {"members": member}, "$set": {EXPIRES_FIELD: expires_at(now, self.expires)}},
        )
        return len(doc["members"]) if isinstance(doc.get("members"), list) else 0

    def _upsert_live(self, collection: Any, key: str, update: Callable[[datetime], Dict[str, Any]]) -> Dict[str, Any]:
        """``update`` applied to the live document ``key`` (or a new one, by upsert) in one atomic
        step; the document after it. An expired document is excluded by the filter, so the
        upsert's insert collides with it: it is deleted and the update starts afresh (the same
        retry settles two first updates racing to insert). The Node backend's ``upsertLive``."""
        for _ in range(_RACE_ROUNDS):
            now = utcnow()
            flt: Dict[str, Any] = {"_id": key}
            flt.update(self._live_filter(now, celery_expires=False))
            try:
                return collection.find_one_and_update(
                    flt, update(now), upsert=True, return_document=ReturnDocument.AFTER
                )
            except DuplicateKeyError:
                collection.delete_one({"_id": key, EXPIRES_FIELD: {"$lte": now}})
        raise RuntimeError(f"[resultstore] [mongodb] update of {key}: lost {_RACE_ROUNDS} races")

    def _save_group(self, group_id: str, result: Any) -> Any:
        now = utcnow()
        self.group_collection.update_one(
            {"_id": group_id},
            {
                "$set": {
                    "result": self.encode([i.id for i in result]),
                    "date_done": now,
                    EXPIRES_FIELD: expires_at(now, self.expires),
                }
            },
            upsert=True,
        )
        return result

    def cleanup(self) -> None:
        """Deletes expired task and group documents, counters and sets (ours by ``expires_at``,
        Celery's by ``date_done``), where Celery's own cleanup knows only ``date_done``."""
        now = utcnow()
        self.collection.delete_many(self._expired_filter(now))
        self.group_collection.delete_many(self._expired_filter(now))
        self.counters_collection.delete_many(self._expired_filter(now, celery_expires=False))
        self.sets_collection.delete_many(self._expired_filter(now, celery_expires=False))


def _aware(value: datetime) -> datetime:
    # pymongo returns naive UTC datetimes unless the client is tz_aware.
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
