"""What every resultstore backend adds to the Celery backend class it builds on."""

import logging
import uuid
from typing import Any, Optional

from kombu.utils.encoding import bytes_to_str

from .records import write_fields
from .rules import READY_STATES, check_metadata

logger = logging.getLogger("resultstore_celery")

#: Celery's key prefix of a task's record (BaseKeyValueStoreBackend.task_keyprefix).
TASK_KEY_PREFIX = "celery-task-meta-"


class RulesMixin:
    """Gives each ``store_result`` call one write id and carries ``metadata`` to ``_store_result``.

    The write id is the same in every attempt Celery's ``result_backend_always_retry`` makes of one
    call, so a re-sent write that finds its own earlier copy stored knows it was applied (the
    Node backends keep the same ``write_id`` field for the same reason).
    """

    #: The backend's name in errors: ``[resultstore] [<name>] …``.
    backend_name = "resultstore"

    def store_result(  # type: ignore[override]
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: Optional[str] = None,
        request: Any = None,
        metadata: Optional[dict] = None,
        **kwargs: Any,
    ) -> Any:
        if metadata is not None:
            check_metadata(metadata, self.backend_name)
            kwargs["metadata"] = metadata
        kwargs.setdefault("write_id", str(uuid.uuid4()))
        return super().store_result(  # type: ignore[misc]
            task_id, result, state, traceback=traceback, request=request, **kwargs
        )

    def _refused(self, task_id: str, state: str, stored: Optional[str]) -> None:
        # Not an error: the state rules said no (a late STARTED after SUCCESS, a redelivery).
        logger.info(
            "resultstore: %s for task %s refused (stored %s): a stored SUCCESS is final and a "
            "ready state is never replaced by an unready one",
            state,
            task_id,
            stored,
        )

    def _global_key_prefix(self) -> str:
        """Celery's ``global_keyprefix`` as its key-value backends prepend it to every key ("" when
        unset): what the Node backends' ``keyPrefix`` option spells (key-value backends only)."""
        task_prefix = bytes_to_str(self.task_keyprefix)  # type: ignore[attr-defined]
        return task_prefix[: -len(TASK_KEY_PREFIX)]

    def _expires_ms(self, now_ms: int) -> Optional[int]:
        """When a record written at ``now_ms`` expires (Celery's ``result_expires``), or None."""
        expires = self.expires  # type: ignore[attr-defined]
        return None if not expires else now_ms + int(expires * 1000)

    def _request_meta(
        self, result: Any, state: str, traceback: Optional[str], request: Any, fields: Optional[dict]
    ) -> dict:
        """Celery's meta for this write, plus the request fields ``mark_queued`` passes itself."""
        meta = self._get_result_meta(  # type: ignore[attr-defined]
            result=result, state=state, traceback=traceback, request=request
        )
        meta.update(fields or {})
        return meta

    def _write_record(
        self, task_id: str, state: str, meta: dict, traceback: Optional[str], metadata: Any, now_ms: int
    ) -> dict:
        """One write as ``records.apply_write`` merges it: the state, its result and expiry, the
        request fields and the metadata to merge key by key."""
        return {
            "task_id": task_id,
            "status": state,
            "result": meta["result"],
            "traceback": traceback,
            "date_done": now_ms if state in READY_STATES else None,
            "updated_at": now_ms,
            "expires_at": self._expires_ms(now_ms),
            "fields": write_fields(meta),
            "metadata": metadata,
        }

