"""What botocore's own retries did inside one call: the Node DynamoDB backend's ``trackAttempts``
and ``sentAtMostOnceAfterLanding`` (packages/backend-dynamodb/src/errors.ts, client.ts).

botocore re-sends a request whose answer a dropped connection lost; the copy it re-sends cannot
know that the first one landed. A task write carries its write id and recognises itself, unless
another write landed in between (then its refusal is not a refusal: ``WriteOutcomeUnknownError``);
an increment never recognises itself, so it must not be re-sent at all once an attempt may have
landed (``IncrementOutcomeUnknownError``). And botocore's transport errors keep the signed request
(``Authorization: … Credential=<access key id>/…``), which no error of ours may carry.
"""

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NoReturn, Optional

from botocore.exceptions import EndpointConnectionError, HTTPClientError

#: The call of this thread being watched, if any (botocore sends on the calling thread).
_watching = threading.local()


class Attempts:
    """The attempts of one watched call so far."""

    def __init__(self, refuse_resend: Optional[Callable[[Optional[BaseException]], NoReturn]]) -> None:
        #: Raises instead of letting botocore send the request again (None: re-sending is safe).
        self.refuse_resend = refuse_resend
        #: An attempt failed in a way that does not rule out that it was applied.
        self.may_have_landed = False


@contextmanager
def watched(refuse_resend: Optional[Callable[[Optional[BaseException]], NoReturn]] = None) -> Iterator[Attempts]:
    """Watches the botocore calls this thread makes inside the block."""
    outer = getattr(_watching, "attempts", None)
    attempts = _watching.attempts = Attempts(refuse_resend)
    try:
        yield attempts
    finally:
        _watching.attempts = outer


def install(client: Any) -> None:
    """Registers the handlers on a DynamoDB client (idempotent)."""
    events = client.meta.events
    # The writes only: a read that may have landed changed nothing.
    for operation in ("UpdateItem", "PutItem"):
        events.register_first(
            f"needs-retry.dynamodb.{operation}", _after_attempt, unique_id=f"resultstore-attempts-{operation}"
        )
    events.register_first("after-call-error.dynamodb", _on_error, unique_id="resultstore-unsigned")


def without_signed_requests(error: Optional[BaseException]) -> None:
    """Drops the signed request botocore keeps on its HTTP errors, along the cause chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, HTTPClientError):
            error.request = None
            error.kwargs.pop("request", None)
        error = error.__cause__ or error.__context__


def _may_have_landed(caught_exception: Optional[BaseException], response: Any) -> bool:
    if caught_exception is not None:
        # Only a connection that was never made (refused, connect timeout) sent nothing.
        return not isinstance(caught_exception, EndpointConnectionError)
    status = getattr(response[0], "status_code", 0) if response else 0
    return status >= 500


def _after_attempt(caught_exception: Optional[BaseException] = None, response: Any = None, **_: Any) -> None:
    """botocore's ``needs-retry`` event, after every attempt: before it decides to re-send."""
    attempts: Optional[Attempts] = getattr(_watching, "attempts", None)
    if attempts is None or not _may_have_landed(caught_exception, response):
        return None  # botocore's own handler decides
    attempts.may_have_landed = True
    if attempts.refuse_resend is not None:
        without_signed_requests(caught_exception)
        attempts.refuse_resend(caught_exception)
    return None


def _on_error(exception: Optional[BaseException] = None, **_: Any) -> None:
    without_signed_requests(exception)
