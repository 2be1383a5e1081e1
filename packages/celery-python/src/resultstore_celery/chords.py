"""Chords counted exactly, as @resultstore/core counts them (store.ts ``onChordPartReturn``).

Celery's key-value backends count a chord's finished members with ``incr("chord-unlock-<gid>")``:
a member delivered twice (an ``acks_late`` redelivery, a worker killed after it stored the
result) counts twice, so the callback runs before the last member finished (and fails joining
it), and Node workers, which count differently, never agree with that counter. Here every
backend counts as the Node side does, on the same records:

- each finished member adds its task id to the chord's set ``chord-members-<gid>`` (the
  backend's native ``add_to_set``, in the Node backend's set layout), so a redelivery counts
  nothing new and Node and Python members land in one set;
- the delivery that sees every member counted claims the callback by storing SUCCESS for the
  task ``chord-claim-<gid>`` with a token of its own; SUCCESS is final, so the first claim wins,
  and the claim is read back to learn whether it won (also when the write's answer was lost);
- only the winner joins the group and applies the callback, exactly as Celery's
  ``on_chord_part_return`` does (a failed member fails the callback with a ChordError).

The set and the claim live until they expire (``result_expires``), so a late duplicate is still
recognised; the group is deleted by the winner, as Celery does.
"""

import hashlib
import time
import uuid
from typing import Any, Optional

from celery import maybe_signature, states
from celery.exceptions import ChordError
from celery.result import GroupResult, allow_join_result

from ._base import logger

#: core's keys.ts: the set of a chord's finished members, and the record of its callback's claim.
CHORD_MEMBERS_KEY_PREFIX = "chord-members-"
CHORD_CLAIM_KEY_PREFIX = "chord-claim-"
#: core's ``setKey``: where a set lives in a key space it shares with tasks, groups and counters.
SET_KEY_PREFIX = "resultstore-set-"
#: core's MAX_ID_BYTES: the longest key every backend's keys are sized for.
MAX_ID_BYTES = 200
#: Attempts to settle a claim when calls fail (each one reads back what is stored), as core's.
CLAIM_ATTEMPTS = 6


def derived_key(prefix: str, id_: str) -> str:
    """core's ``derivedKey``: ``prefix + id`` when it fits MAX_ID_BYTES, else ``prefix +
    "sha256:" + hex digest of id``, so both sides name a long group's set and claim alike."""
    key = f"{prefix}{id_}"
    if len(key.encode("utf-8")) <= MAX_ID_BYTES:
        return key
    return f"{prefix}sha256:{hashlib.sha256(id_.encode('utf-8')).hexdigest()}"


def _chord_error(message: str, cause: Optional[BaseException] = None) -> ChordError:
    # Celery 5.6's _create_chord_error_with_cause, which Celery 5.5 lacks.
    error = ChordError(message)
    if isinstance(cause, Exception):
        error.__cause__ = cause
    return error


class MemberSetChords:
    """``apply_chord`` and ``on_chord_part_return`` by the chord's member set and claim.

    Mixed into every backend of this package, before Celery's class. A backend supplies
    ``add_to_set(key, member) -> size``: atomic on the server, idempotent per member, expiring
    with ``result_expires``, in the Node backend's layout for ``addToSet(key, …)``.
    """

    def add_to_set(self, key: str, member: str) -> int:
        raise NotImplementedError

    def apply_chord(self, header_result_args: Any, body: Any, **kwargs: Any) -> None:
        """Saves the group the members are counted against (Celery's ``_apply_chord_incr``),
        also on MongoDB and Cassandra, where Celery would start its polling ``chord_unlock``."""
        self.ensure_chords_allowed()  # type: ignore[attr-defined]
        header_result = self.app.GroupResult(*header_result_args)  # type: ignore[attr-defined]
        header_result.save(backend=self)

    def on_chord_part_return(self, request: Any, state: str, result: Any, **kwargs: Any) -> None:
        gid = request.group
        if not gid:
            return
        try:
            deps = self._restore_chord_group(gid)
        except Exception as exc:  # as Celery: the callback fails with the reason
            logger.exception("Chord %r raised: %r", gid, exc)
            return self._fail_chord(request, ChordError(f"Cannot restore group: {exc!r}"))
        if deps is None:
            if self._chord_claimed(gid):
                return  # a late duplicate: the delivery that ran the callback deleted the group
            logger.error("Chord callback %r raised: GroupResult no longer exists", gid)
            return self._fail_chord(request, ChordError(f"GroupResult {gid} no longer exists"))
        size = request.chord.get("chord_size")
        if size is None:
            size = len(deps)
        count = self.add_to_set(derived_key(CHORD_MEMBERS_KEY_PREFIX, gid), request.id)
        if count < size:
            return
        if count > size:
            logger.warning("Chord %r counts %d members, more than its size %d", gid, count, size)
        if not self._claim_chord(gid, request.id):
            return  # every member counted, and another delivery runs the callback
        self._run_chord_callback(gid, request, deps)

    # --- the callback, as Celery's on_chord_part_return runs it ---------------------------------

    def _run_chord_callback(self, gid: str, request: Any, deps: GroupResult) -> None:
        app = self.app  # type: ignore[attr-defined]
        callback = maybe_signature(request.chord, app=app)
        join = deps.join_native if deps.supports_native_join else deps.join
        try:
            with allow_join_result():
                ret = join(timeout=app.conf.result_chord_join_timeout, propagate=True)
        except Exception as exc:  # a member failed (or did not finish): the callback fails
            try:
                culprit = next(deps._failed_join_report())
                reason = f"Dependency {culprit.id} raised {exc!r}"
            except StopIteration:
                reason = repr(exc)
            logger.exception("Chord %r raised: %r", gid, reason)
            self.chord_error_from_stack(callback=callback, exc=_chord_error(reason, exc))  # type: ignore[attr-defined]
        else:
            try:
                callback.delay(ret)
            except Exception as exc:
                logger.exception("Chord %r raised: %r", gid, exc)
                self.chord_error_from_stack(  # type: ignore[attr-defined]
                    callback=callback, exc=_chord_error(f"Callback error: {exc!r}", exc)
                )
        finally:
            deps.delete()

    def _fail_chord(self, request: Any, error: ChordError) -> Any:
        callback = maybe_signature(request.chord, app=self.app)  # type: ignore[attr-defined]
        return self.chord_error_from_stack(callback, error)  # type: ignore[attr-defined]

    def _restore_chord_group(self, gid: str) -> Optional[GroupResult]:
        """The saved group as a GroupResult (Celery's MongoDB backend restores a plain list)."""
        deps = GroupResult.restore(gid, backend=self)
        if deps is None or isinstance(deps, GroupResult):
            return deps
        return self.app.GroupResult(gid, list(deps))  # type: ignore[attr-defined]

    # --- the claim (store.ts claimChord) ---------------------------------------------------------

    def _claim_chord(self, gid: str, member: str) -> bool:
        """Whether this delivery wins the callback: its token is the first SUCCESS stored under
        the claim id. Settled by reading the claim back, so a lost answer still tells the winner."""
        claim_id = derived_key(CHORD_CLAIM_KEY_PREFIX, gid)
        token = str(uuid.uuid4())
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            try:
                # The record Node's claim writes: result {member, token}, group_id, nothing else.
                self.store_result(  # type: ignore[attr-defined]
                    claim_id,
                    {"member": member, "token": token},
                    states.SUCCESS,
                    fields={"group_id": gid},
                )
            except Exception:
                if attempt >= CLAIM_ATTEMPTS:
                    raise
            try:
                won = self._claim_holds(claim_id, token)
            except Exception:
                if attempt >= CLAIM_ATTEMPTS:
                    raise
                won = None
            if won is not None:
                return won
            time.sleep(min(1.0, 0.02 * 2**attempt))
        raise ChordError(f"Chord {gid}: the callback's claim could not be settled")

    def _claim_holds(self, claim_id: str, token: str) -> Optional[bool]:
        """True/False: the stored claim is/is not ours; None: no claim stored yet."""
        meta = self._get_task_meta_for(claim_id)  # type: ignore[attr-defined]
        if meta.get("status") != states.SUCCESS:
            return None
        stored = meta.get("result")
        return isinstance(stored, dict) and stored.get("token") == token

    def _chord_claimed(self, gid: str) -> bool:
        meta = self._get_task_meta_for(derived_key(CHORD_CLAIM_KEY_PREFIX, gid))  # type: ignore[attr-defined]
        return meta.get("status") == states.SUCCESS
