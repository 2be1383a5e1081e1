"""What every resultstore backend adds to the Celery backend class it builds on."""

import logging
import uuid
from typing import Any, Optional

from .rules import check_metadata

logger = logging.getLogger("resultstore_celery")


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
