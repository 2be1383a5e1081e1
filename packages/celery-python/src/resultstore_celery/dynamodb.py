"""DynamoDB: Celery's DynamoDBBackend, with every task write ONE conditional ``UpdateItem``
instead of Celery's read-then-``PutItem``.

The condition is the state rules (``status NOT IN states_refusing(incoming)`` on a live item, or no
item), so DynamoDB checks and writes in one atomic step; ``SET`` touches only the attributes the
write carries, so optional fields and metadata keys it lacks keep their stored values. The item is
exactly what @resultstore/backend-dynamodb writes for the same call
(packages/backend-dynamodb/src/records.ts and write.ts): Celery's ``id``, ``result`` (the meta
blob Celery reads, this write's alone), ``timestamp`` and ``ttl``, plus ``status``, one attribute
per optional field (Celery JSON text), ``meta_<key>`` per metadata key, ``write_id``,
``updated_at``, and ``find_position`` and ``find_all``, the keys of the find indexes (the Node
backend's README, "Finding tasks").
"""

import math
import time
from typing import Any, Callable, Dict, List, NoReturn, Optional, Tuple

from botocore.exceptions import ClientError
from celery import states
from celery.backends.dynamodb import DynamoDBBackend as CeleryDynamoDBBackend
from kombu.utils.encoding import ensure_bytes
from kombu.utils.json import dumps as json_dumps
from kombu.utils.json import loads as json_loads

from . import attempts
from ._base import RulesMixin
from .chords import CHORD_CLAIM_KEY_PREFIX, SET_KEY_PREFIX, MemberSetChords
from .errors import IncrementOutcomeUnknownError, WriteOutcomeUnknownError
from .records import celery_date
from .rules import READY_STATES, can_transition, states_refusing

#: Record fields kept in their own attribute (named after Celery's meta keys), in Celery's order.
OPTIONAL_ATTRS = (
    "children",
    "group_id",
    "parent_id",
    "name",
    "args",
    "kwargs",
    "worker",
    "retries",
    "queue",
)
EXTENDED = ("name", "args", "kwargs", "worker", "retries", "queue")
METADATA_PREFIX = "meta_"
_RACE_ROUNDS = 8
CONDITION_FAILED = "ConditionalCheckFailedException"

Item = Dict[str, Dict[str, Any]]


def epoch_seconds(ms: int) -> Dict[str, str]:
    """DynamoDB's N as the Node backend writes it (JavaScript's ``String(ms / 1000)``)."""
    return {"N": str(ms // 1000) if ms % 1000 == 0 else repr(ms / 1000)}


def find_position(ms: int, task_id: str) -> str:
    """The find indexes' sort key, as the Node backend's ``findPosition``: the time in ms zero-padded
    to 15 digits (text order is time order), ``#``, the task id (UTF-8 byte order is code point order)."""
    return f"{max(0, ms):015d}#{task_id}"


def ttl_value(expires_ms: int) -> Dict[str, str]:
    """Whole seconds, never before the expiry (what DynamoDB TTL reads)."""
    return {"N": str(math.ceil(expires_ms / 1000))}


class _Expression:
    """Placeholders for every name and value (``status``, ``name``, ``ttl`` are reserved words)."""

    def __init__(self) -> None:
        self.names: Dict[str, str] = {}
        self.values: Dict[str, Any] = {}
        self._slots: Dict[str, str] = {}

    def name(self, attribute: str) -> str:
        if attribute not in self._slots:
            slot = f"#n{len(self._slots)}"
            self._slots[attribute] = slot
            self.names[slot] = attribute
        return self._slots[attribute]

    def value(self, value: Any) -> str:
        slot = f":v{len(self.values)}"
        self.values[slot] = value
        return slot

    def live(self, now: Dict[str, str]) -> str:
        ttl = self.name("ttl")
        return f"(attribute_not_exists({ttl}) OR {ttl} > {self.value(now)})"

    def expired(self, now: Dict[str, str]) -> str:
        return f"{self.name('ttl')} <= {self.value(now)}"

    def placeholders(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out


class DynamoDBBackend(RulesMixin, MemberSetChords, CeleryDynamoDBBackend):
    """``resultstore+dynamodb://…``: Celery's DynamoDBBackend under resultstore's state rules."""

    backend_name = "dynamodb"

    def _get_or_create_table(self) -> Any:
        # Celery's _get_client makes the client, then calls this first: the earliest point at
        # which the client exists, before any request of ours or Celery's is sent.
        attempts.install(self._client)
        return super()._get_or_create_table()

    # --- the write ------------------------------------------------------------------------------

    def _expires_ms(self, now_ms: int) -> Optional[int]:
        """The store's expiry (Celery's ``result_expires``), or the URL's fixed ``ttl_seconds``."""
        fixed = self.time_to_live_seconds
        if fixed is not None:
            return None if fixed < 0 else now_ms + fixed * 1000
        return None if not self.expires else now_ms + int(self.expires * 1000)

    def _fields(self, meta: Dict[str, Any]) -> Dict[str, Any]:
        """The optional fields this write carries (absent ones keep their stored values)."""
        fields: Dict[str, Any] = {}
        if meta.get("children") is not None:
            fields["children"] = meta["children"]
        for key in ("group_id", "parent_id"):
            if meta.get(key):
                fields[key] = meta[key]
        for key in EXTENDED:
            if key in meta:
                fields[key] = meta[key]
        return fields

    def _blob(self, task_id: str, meta: Dict[str, Any], fields: Dict[str, Any]) -> bytes:
        """Celery's key-value meta of this write alone, in @resultstore/core's encodeMeta order."""
        blob: Dict[str, Any] = {
            "status": meta["status"],
            "result": meta["result"],
            "traceback": meta["traceback"],
            "children": fields.get("children"),
            "date_done": meta["date_done"],
        }
        for key in ("group_id", "parent_id"):
            if fields.get(key):
                blob[key] = fields[key]
        if any(fields.get(key) is not None for key in EXTENDED):
            for key in EXTENDED:
                blob[key] = fields.get(key)
        blob["task_id"] = task_id
        return json_dumps(blob).encode("utf-8")

    def _attributes(
        self,
        task_id: str,
        meta: Dict[str, Any],
        fields: Dict[str, Any],
        metadata: Optional[dict],
        write_id: Optional[str],
        now_ms: int,
    ) -> Item:
        item: Item = {
            "result": {"B": self._blob(task_id, meta, fields)},
            "timestamp": epoch_seconds(now_ms),
            "status": {"S": meta["status"]},
        }
        for key in OPTIONAL_ATTRS:
            if key in fields:
                item[key] = {"S": json_dumps(fields[key])}
        for key, value in (metadata or {}).items():
            item[f"{METADATA_PREFIX}{key}"] = {"S": json_dumps(value)}
        expires = self._expires_ms(now_ms)
        if expires is not None:
            item["ttl"] = ttl_value(expires)
        if write_id:
            item["write_id"] = {"S": write_id}
        # The record's last write (core's updatedAt) and its place in the find indexes; a chord
        # claim stays out of them (sparse indexes: no sort key, no entry).
        item["updated_at"] = epoch_seconds(now_ms)
        if not task_id.startswith(CHORD_CLAIM_KEY_PREFIX):
            item["find_position"] = {"S": find_position(now_ms, task_id)}
            item["find_all"] = {"S": "task"}
        return item

    def _update(self, key: str, attributes: Item, condition: Any, now: Dict[str, str]) -> Tuple[bool, Optional[Item]]:
        """One conditional UpdateItem; (applied, the item the condition refused)."""
        expr = _Expression()
        sets = [f"{expr.name(a)} = {expr.value(v)}" for a, v in attributes.items()]
        update = f"SET {', '.join(sets)}"
        if "ttl" not in attributes:
            update += f" REMOVE {expr.name('ttl')}"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition(expr, now),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **expr.placeholders(),
            )
            return True, None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return False, exc.response.get("Item")

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
        write_fields = self._fields(meta)
        key = str(self.get_key_for_task(task_id))

        def guard(expr: _Expression, now: Dict[str, str]) -> str:
            status = expr.name("status")
            refusing = ", ".join(expr.value({"S": s}) for s in states_refusing(state))
            return (
                f"attribute_not_exists({expr.name('id')}) OR (attribute_exists({status}) "
                f"AND NOT ({status} IN ({refusing})) AND {expr.live(now)})"
            )

        def refused(stored_status: Optional[str], sent: attempts.Attempts) -> Any:
            if sent.may_have_landed:
                # A copy whose answer was lost may have landed before the write that refused this
                # one (PROOF.md, "Found with drop"): Celery has no "unknown", so it is raised.
                raise WriteOutcomeUnknownError(
                    self.backend_name,
                    task_id,
                    "botocore sent it again after an attempt whose answer was lost, and another "
                    f"write (stored {stored_status}) refused the copy it sent again",
                )
            self._refused(task_id, state, stored_status)
            return result

        # Every request of this write, so that a refusal knows whether botocore re-sent one.
        with attempts.watched() as sent:
            for _ in range(_RACE_ROUNDS):
                now_ms = int(time.time() * 1000)
                now = epoch_seconds(now_ms)
                meta["date_done"] = celery_date(now_ms) if state in READY_STATES else None
                attributes = self._attributes(task_id, meta, write_fields, metadata, write_id, now_ms)
                applied, old = self._update(key, attributes, guard, now)
                if applied:
                    return result
                if old is None:
                    continue  # deleted since the check: again from the top
                if _expired(old, now_ms):
                    if self._replace_expired(key, attributes, now):
                        return result
                    continue
                if write_id and old.get("write_id", {}).get("S") == write_id:
                    return result  # this very call, sent again after it landed
                stored_status = old.get("status", {}).get("S")
                if stored_status is not None:
                    if can_transition(stored_status, state):
                        continue  # changed since the check: again
                    return refused(stored_status, sent)
                # An item a stock Celery worker wrote (PutItem, no `status`): its state is in the blob.
                stored = _blob_meta(old)
                if stored and not can_transition(stored.get("status"), state):
                    return refused(stored.get("status"), sent)
                merged = dict(write_fields)
                for field in OPTIONAL_ATTRS:
                    if field not in merged and stored and stored.get(field) is not None:
                        merged[field] = stored[field]
                attributes = self._attributes(task_id, meta, merged, metadata, write_id, now_ms)
                blob = old.get("result")

                def unchanged(expr: _Expression, now: Dict[str, str]) -> str:
                    same = (
                        f"{expr.name('result')} = {expr.value(blob)}"
                        if blob
                        else f"attribute_not_exists({expr.name('result')})"
                    )
                    return f"attribute_not_exists({expr.name('status')}) AND {same} AND {expr.live(now)}"

                if self._update(key, attributes, unchanged, now)[0]:
                    return result
            raise RuntimeError(f"[resultstore] [dynamodb] write of task {task_id}: lost {_RACE_ROUNDS} races")

    def _replace_expired(self, key: str, attributes: Item, now: Dict[str, str]) -> bool:
        """An expired item counts as absent: replaced whole, if it is still expired."""
        expr = _Expression()
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={"id": {"S": key}, **attributes},
                ConditionExpression=expr.expired(now),
                **expr.placeholders(),
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return False

    # --- reads ----------------------------------------------------------------------------------

    def _get_task_meta_for(self, task_id: str) -> Dict[str, Any]:
        """The blob Celery reads, overlaid with our attributes (the merged record) and metadata;
        an expired item reads as PENDING. Consistent reads, as the Node backend's."""
        response = self.client.get_item(
            TableName=self.table_name,
            Key={"id": {"S": str(self.get_key_for_task(task_id))}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item or "result" not in item or _expired(item, int(time.time() * 1000)):
            return {"status": states.PENDING, "result": None}
        meta = self.decode(item["result"]["B"])
        for field in OPTIONAL_ATTRS:
            if field in item and "S" in item[field]:
                meta[field] = json_loads(item[field]["S"])
        meta["metadata"] = {
            name[len(METADATA_PREFIX):]: json_loads(value["S"])
            for name, value in item.items()
            if name.startswith(METADATA_PREFIX) and "S" in value
        }
        return self.meta_from_decoded(meta)

    # --- counters and sets (the Node backend's counters.ts) ---------------------------------------

    def incr(self, key: Any, by: int = 1) -> int:  # type: ignore[override]
        """Adds ``by`` to ``chord_count`` atomically (``if_not_exists`` starts it at 0) and
        refreshes ``ttl``, conditional on the counter being live; an expired one is restarted by
        one conditional update. The Node backend's ``increment``, on the same item."""
        item_id = str(key if isinstance(key, bytes) else str(key).encode("utf-8"))

        def change(expr: _Expression, mode: str) -> Tuple[List[str], str]:
            count = expr.name("chord_count")
            step = expr.value({"N": str(by)})
            following = f"if_not_exists({count}, {expr.value({'N': '0'})}) + {step}" if mode == "add" else step
            return [f"{count} = {following}"], ""

        def refuse_resend(lost: Optional[BaseException]) -> NoReturn:
            # Re-sent, it would count twice: the proof saw units no answered increment owns.
            raise IncrementOutcomeUnknownError(
                self.backend_name, item_id, "its answer was lost after it was sent (botocore would send it again)"
            ) from lost

        return self._update_live(item_id, change, lambda attrs: int(attrs["chord_count"]["N"]), refuse_resend)

    def add_to_set(self, key: str, member: str) -> int:
        """ADDs ``member`` to the string set ``members`` of the item ``resultstore-set-<key>``
        (a member already there changes nothing) and answers the set's size: the Node backend's
        ``addMember``, on the same item."""
        item_id = str(ensure_bytes(f"{self._global_key_prefix()}{SET_KEY_PREFIX}{key}"))

        def change(expr: _Expression, mode: str) -> Tuple[List[str], str]:
            members = expr.name("members")
            value = expr.value({"SS": [member]})
            return ([], f" ADD {members} {value}") if mode == "add" else ([f"{members} = {value}"], "")

        return self._update_live(item_id, change, lambda attrs: len(attrs.get("members", {}).get("SS", [])))

    def _update_live(
        self,
        item_id: str,
        change: Callable[[_Expression, str], Tuple[List[str], str]],
        answer: Callable[[Item], int],
        refuse_resend: Optional[Callable[[Optional[BaseException]], NoReturn]] = None,
    ) -> int:
        """One UpdateItem changing the live item (``add``), or, when it expired, one restarting it
        conditional on it still being expired (``restart``); concurrent calls stay exact.
        ``refuse_resend``: raises instead of a re-send of an update that may have landed."""
        for _ in range(_RACE_ROUNDS):
            now_ms = int(time.time() * 1000)
            for mode in ("add", "restart"):
                with attempts.watched(refuse_resend):
                    attributes = self._conditional_update(item_id, now_ms, mode, change)
                if attributes is not None:
                    return answer(attributes)
        raise RuntimeError(f"[resultstore] [dynamodb] update of {item_id}: lost {_RACE_ROUNDS} races")

    def _conditional_update(
        self, item_id: str, now_ms: int, mode: str, change: Callable[[_Expression, str], Tuple[List[str], str]]
    ) -> Optional[Item]:
        expr = _Expression()
        now = epoch_seconds(now_ms)
        sets, add = change(expr, mode)
        sets = [*sets, f"{expr.name('timestamp')} = {expr.value(now)}"]
        expires = self._expires_ms(now_ms)
        if expires is not None:
            sets.append(f"{expr.name('ttl')} = {expr.value(ttl_value(expires))}")
        remove = "" if expires is not None else f" REMOVE {expr.name('ttl')}"
        condition = expr.live(now) if mode == "add" else expr.expired(now)
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": item_id}},
                UpdateExpression=f"SET {', '.join(sets)}{remove}{add}",
                ConditionExpression=condition,
                ReturnValues="UPDATED_NEW",
                **expr.placeholders(),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return None
        return response["Attributes"]


def _expired(item: Item, now_ms: int) -> bool:
    ttl = item.get("ttl", {}).get("N")
    if ttl is None:
        return False
    try:
        return float(ttl) * 1000 <= now_ms
    except ValueError:
        return False


def _blob_meta(item: Item) -> Optional[Dict[str, Any]]:
    blob = item.get("result", {}).get("B")
    if not blob:
        return None
    meta = json_loads(bytes(blob).decode("utf-8"))
    return meta if isinstance(meta, dict) else None
