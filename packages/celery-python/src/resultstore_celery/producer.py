"""For Python producers: record a task QUEUED, with metadata, before it is published.

This is what @resultstore/core's ``markQueued`` does in Node, through the same backend and under
the same rules (a QUEUED write never replaces a ready state), so a worker's later writes merge
into the record and keep the metadata.
"""

from typing import Any, Dict, Optional, Sequence

QUEUED = "QUEUED"
#: The message header ``record_queued_on_publish`` reads metadata from.
METADATA_HEADER = "resultstore_metadata"


def mark_queued(
    backend: Any,
    task_id: str,
    *,
    metadata: Optional[Dict[str, Any]] = None,
    name: Optional[str] = None,
    args: Optional[Sequence[Any]] = None,
    kwargs: Optional[Dict[str, Any]] = None,
    queue: Optional[str] = None,
) -> None:
    """Stores QUEUED for ``task_id`` with ``metadata`` and the request fields given (the same
    record as Node's ``store.markQueued(id, {metadata, name, args, kwargs, queue})``)."""
    fields: Dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if args is not None:
        fields["args"] = list(args)
    if kwargs is not None:
        fields["kwargs"] = dict(kwargs)
    if queue is not None:
        fields["queue"] = queue
    backend.store_result(task_id, None, QUEUED, metadata=metadata or {}, fields=fields)


def record_queued_on_publish(app: Any, header: str = METADATA_HEADER) -> Any:
    """Connects a ``before_task_publish`` handler that records every task QUEUED before it is
    published, with the metadata found in the message header ``header``::

        record_queued_on_publish(app)
        add.apply_async((2, 3), headers={"resultstore_metadata": {"tenant": "acme"}})

    Returns the handler (``before_task_publish.disconnect(handler)`` removes it).
    """
    from celery.signals import before_task_publish

    def handler(sender: Any = None, body: Any = None, headers: Any = None, **extra: Any) -> None:
        headers = headers or {}
        task_id = headers.get("id")
        if not task_id:
            return  # protocol 1 messages carry the id in the body; not supported
        args, kwargs = (body[0], body[1]) if isinstance(body, (list, tuple)) and len(body) >= 2 else (None, None)
        queue = (extra.get("routing_key") or None)
        mark_queued(
            app.backend,
            task_id,
            metadata=headers.get(header) or {},
            name=headers.get("task") or sender,
            args=args,
            kwargs=kwargs,
            queue=queue,
        )

    before_task_publish.connect(handler, weak=False)
    return handler
