"""The state rules, exactly as @resultstore/core states them (packages/core/src/states.ts).

Backends put ``states_refusing(incoming)`` into their server-side condition, so the check and
the write are one atomic step on the database.
"""

from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple, Union

SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"
QUEUED = "QUEUED"

READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})

_FINAL_ONLY: Tuple[str, ...] = (SUCCESS,)
_ALL_READY: Tuple[str, ...] = (SUCCESS, FAILURE, REVOKED)


def states_refusing(incoming: str) -> Tuple[str, ...]:
    """The stored states that refuse a write of ``incoming``.

    A stored SUCCESS is final; a stored ready state is never replaced by an unready one.
    """
    return _FINAL_ONLY if incoming in READY_STATES else _ALL_READY


def can_transition(stored: Optional[str], incoming: str) -> bool:
    """May a record stored in ``stored`` (None: no record) be overwritten by ``incoming``?"""
    return stored is None or stored not in states_refusing(incoming)


def expires_at(now: datetime, expires: Union[None, int, float, timedelta]) -> Optional[datetime]:
    """When a record written at ``now`` expires: Celery's ``result_expires`` after it (None: never)."""
    if expires is None:
        return None
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else float(expires)
    return now + timedelta(seconds=seconds)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_FORBIDDEN_KEYS = frozenset({"__proto__", "constructor", "prototype"})


def check_metadata(metadata: object, backend: str) -> dict:
    """@resultstore/core's validateMetadata: a dict whose keys, at any depth, are not empty and
    have no leading ``$``, no ``.``, no NUL and no prototype name. Raises InvalidMetadataError."""
    from .errors import InvalidMetadataError

    if not isinstance(metadata, dict):
        raise InvalidMetadataError(backend, "Metadata must be a dict.")

    def check(value: object, path: str) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                check(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                if (
                    not isinstance(key, str)
                    or key == ""
                    or key.startswith("$")
                    or "." in key
                    or "\0" in key
                    or key in _FORBIDDEN_KEYS
                ):
                    raise InvalidMetadataError(
                        backend,
                        f"Metadata key {key!r} at {path} is not allowed "
                        '(empty, leading "$", ".", NUL or a prototype name).',
                    )
                check(item, f"{path}.{key}")

    check(metadata, "metadata")
    return metadata
