"""resultstore-celery: Celery result backends that keep resultstore's state rules.

Set ``result_backend = "resultstore+<url>"`` (the URL ``createStore`` takes in Node, e.g.
``resultstore+mongodb://127.0.0.1:27017/celery``). Every write is applied atomically on the
database server under the same rules as resultstore's Node backends:

1. a stored ``SUCCESS`` is final;
2. a stored ready state (``SUCCESS``, ``FAILURE``, ``REVOKED``) is never replaced by an unready one;
3. any other write is merged: fields it does not carry keep their stored values, and ``metadata``
   merges key by key, so what a producer recorded before publishing survives.

A refused write changes nothing and is not an error (Celery's worker carries on).
"""

from .errors import (
    ConfigurationError,
    IncrementOutcomeUnknownError,
    OutcomeUnknownError,
    ResultStoreError,
    UnsafeEngineWarning,
    WriteOutcomeUnknownError,
)
from .factory import SCHEMES, backend_for_url
from .producer import mark_queued, record_queued_on_publish
from .rules import READY_STATES, can_transition, states_refusing

__version__ = "0.1.0"

__all__ = [
    "READY_STATES",
    "SCHEMES",
    "ConfigurationError",
    "IncrementOutcomeUnknownError",
    "OutcomeUnknownError",
    "ResultStoreError",
    "UnsafeEngineWarning",
    "WriteOutcomeUnknownError",
    "__version__",
    "backend_for_url",
    "can_transition",
    "mark_queued",
    "record_queued_on_publish",
    "states_refusing",
]
