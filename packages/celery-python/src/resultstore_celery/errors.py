"""Typed errors, named like the Node package's: ``[resultstore] [<backend>] <message>``."""

from celery.exceptions import ImproperlyConfigured


class ResultStoreError(Exception):
    """Base of every error this package raises itself."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"[resultstore] [{backend}] {message}")
        self.backend = backend


class ConfigurationError(ResultStoreError, ImproperlyConfigured):
    """A bad URL or setting. Also Celery's ImproperlyConfigured, so Celery reports it as such."""


class InvalidMetadataError(ResultStoreError, ValueError):
    """Metadata the Node side would refuse too (``$`` or ``.`` in a key, a non-dict): nothing is written."""


class OutcomeUnknownError(ResultStoreError):
    """A request may have landed, but its answer was lost: whether it changed anything is unknown
    (the Node package's ``OutcomeUnknownError``)."""


class WriteOutcomeUnknownError(OutcomeUnknownError):
    """A task write the client re-sent after a lost answer was refused by a state another write
    stored: its first copy may have landed before that write, so neither "applied" nor "refused"
    would be honest. Writing again is safe under the state rules."""

    def __init__(self, backend: str, task_id: str, why: str) -> None:
        super().__init__(
            backend,
            f"The write of task {task_id} has an unknown outcome: {why}, so whether it was applied is unknown.",
        )
        self.task_id = task_id


class IncrementOutcomeUnknownError(OutcomeUnknownError):
    """An increment whose answer was lost after it reached the server: it may have counted.
    Increments are not idempotent, so it is never sent again: read the counter before counting again."""

    def __init__(self, backend: str, counter: str, why: str) -> None:
        super().__init__(backend, f"Incrementing counter {counter}: {why}, so it may have counted.")
        self.counter = counter


class UnsafeEngineWarning(RuntimeWarning):
    """The database engine does not keep the state rules under concurrency (FerretDB 1.x): the
    Node backends log the same "UNSAFE ENGINE" warning."""
