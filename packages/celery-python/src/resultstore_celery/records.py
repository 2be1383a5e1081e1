"""Records as @resultstore/core shapes them (packages/core/src/record.ts), for backends that store
Celery's key-value meta JSON as a whole value (Consul, Cosmos DB): the merge a write makes, and the
meta text in core's ``encodeMeta`` key order."""

import re
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from kombu.utils.json import dumps as json_dumps

from .rules import can_transition

#: Optional record fields (Celery's meta keys): a write that does not carry one keeps the stored value.
OPTIONAL_FIELDS = ("children", "group_id", "parent_id", "name", "args", "kwargs", "worker", "retries", "queue")
EXTENDED = ("name", "args", "kwargs", "worker", "retries", "queue")

Record = Dict[str, Any]


def celery_date(ms: int) -> str:
    """@resultstore/core's formatCeleryDate: ``2024-05-01T12:00:00.123000+00:00`` (ms precision)."""
    date = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).replace(microsecond=(ms % 1000) * 1000)
    return date.isoformat()


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_date_ms(value: Any) -> Optional[int]:
    """Every ``date_done`` format Celery 5.x wrote (naive = UTC, offsets, ``Z``) as epoch ms."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(aware.timestamp() * 1000)
    if not isinstance(value, str) or not value:
        return None
    m = _ISO.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, zone = m.groups()
    ms = int((frac or "").ljust(3, "0")[:3] or 0)
    date = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=timezone.utc)
    total = int(date.timestamp()) * 1000 + ms
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone.startswith("-") else 1
        digits = zone[1:].replace(":", "")
        total -= sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0)) * 60_000
    return total


def record_from_meta(meta: Dict[str, Any], task_id: str) -> Record:
    """A stored meta (ours or Celery's) as a record; ``expires_at`` and ``updated_at`` (the last
    write's time, which ``find`` orders by; Celery's records have none) as epoch ms or None."""
    record: Record = {
        "task_id": meta.get("task_id") if isinstance(meta.get("task_id"), str) else task_id,
        "status": meta.get("status"),
        "result": meta.get("result"),
        "traceback": meta.get("traceback") if isinstance(meta.get("traceback"), str) else None,
        "children": meta.get("children") if isinstance(meta.get("children"), list) else None,
        "date_done": parse_date_ms(meta.get("date_done")),
        "updated_at": parse_date_ms(meta.get("updated_at")),
        "metadata": meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {},
        "expires_at": parse_date_ms(meta.get("expires_at")),
    }
    for field in OPTIONAL_FIELDS[1:]:
        record[field] = meta.get(field)
    return record


def apply_write(stored: Optional[Record], write: Record, now_ms: int) -> Optional[Record]:
    """core's applyWrite: the record after ``write``, or None when the state rules refuse it.
    An expired record counts as absent; fields the write lacks keep their stored values; metadata
    merges key by key."""
    current = stored if stored and not _expired(stored, now_ms) else None
    if not can_transition(current["status"] if current else None, write["status"]):
        return None
    base: Record = current or {"task_id": write["task_id"], "metadata": {}}
    nxt = {field: base.get(field) for field in OPTIONAL_FIELDS}
    nxt.update(
        task_id=base.get("task_id") or write["task_id"],
        status=write["status"],
        result=write["result"],
        traceback=write["traceback"],
        date_done=write["date_done"],
        updated_at=write.get("updated_at"),
        expires_at=write["expires_at"],
        metadata={**base.get("metadata", {}), **(write.get("metadata") or {})},
    )
    for field in OPTIONAL_FIELDS:
        if field in write["fields"]:
            nxt[field] = write["fields"][field]
    return nxt


def _expired(record: Record, now_ms: int) -> bool:
    return record.get("expires_at") is not None and record["expires_at"] <= now_ms


def encode_meta(record: Record, extra: Dict[str, Any]) -> str:
    """core's encodeMeta (Celery's key order, ``metadata`` when non-empty), then ``extra`` (our
    ``expires_at``, ``write_id``), then ``task_id`` last."""
    meta: Dict[str, Any] = {
        "status": record["status"],
        "result": record["result"],
        "traceback": record["traceback"],
        "children": record.get("children"),
        "date_done": celery_date(record["date_done"]) if record.get("date_done") is not None else None,
    }
    for field in ("group_id", "parent_id"):
        if record.get(field):
            meta[field] = record[field]
    if any(record.get(field) is not None for field in EXTENDED):
        for field in EXTENDED:
            meta[field] = record.get(field)
    if record.get("metadata"):
        meta["metadata"] = record["metadata"]
    meta.update(extra)
    meta["task_id"] = record["task_id"]
    return json_dumps(meta)


def write_fields(meta: Dict[str, Any]) -> Dict[str, Any]:
    """The optional fields a Celery meta carries (children only with a request)."""
    fields: Dict[str, Any] = {}
    if meta.get("children") is not None:
        fields["children"] = [list(c) if isinstance(c, tuple) else c for c in meta["children"]]
    for key in ("group_id", "parent_id"):
        if meta.get(key):
            fields[key] = meta[key]
    for key in EXTENDED:
        if key in meta:
            value = meta[key]
            fields[key] = list(value) if isinstance(value, tuple) else value
    return fields
