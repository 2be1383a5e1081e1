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
