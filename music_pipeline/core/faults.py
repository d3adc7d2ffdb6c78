"""Transient versus content failures, as a property of the error (ingestion, engine steps, publishing).

A transient failure passes with time: the disk is full, an I/O error, a timeout, a dropped connection,
throttling, an S3 or DynamoDB 5xx. Retrying the same file later can succeed, so a file that failed that
way is retried (with backoff in the same sync, then by every later sync) and is never taken as
`unchanged`. A content failure (the file cannot be parsed, a required column is missing) fails again
for the same bytes, so it stays failed until its content changes.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError

TRANSIENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EAGAIN,
    errno.EBUSY,
    errno.ETIMEDOUT,
    errno.ECONNRESET,
    errno.ECONNREFUSED,
    errno.ECONNABORTED,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EPIPE,
}
# what pyarrow's S3 filesystem says of a throttled or failing service ("AWS Error <CODE> during <operation>")
TRANSIENT_AWS_CODES = (
    "INTERNAL_FAILURE",
    "SERVICE_UNAVAILABLE",
    "SLOW_DOWN",
    "THROTTLING",
    "REQUEST_TIMEOUT",
    "REQUEST_TIME_TOO_SKEWED",
    "NETWORK_CONNECTION",
    "UNKNOWN (HTTP status 5",
)
TRANSIENT_CLIENT_CODES = {
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestTimeout",
}
ATTEMPTS = 3  # tries of one file in one sync
BACKOFF_SECONDS = 0.5  # before the second try; doubled before each next one

T = TypeVar("T")


class TransientError(RuntimeError):
    """An error of the pipeline's own that passes with time (e.g. a day another run is publishing)."""


def is_transient(error: BaseException) -> bool:
    """Whether the error can pass by itself (I/O, space, time-outs, throttling, 5xx), not the file's content."""
    if isinstance(error, (TransientError, TimeoutError, ConnectionError, BotoConnectionError, ReadTimeoutError)):
        return True
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.response.get("Error", {}).get("Code") in TRANSIENT_CLIENT_CODES or status >= 500
    if isinstance(error, OSError):
        if error.errno in TRANSIENT_ERRNOS:
            return True
        text = str(error)
        return "AWS Error" in text and any(code in text for code in TRANSIENT_AWS_CODES)
    cause = error.__cause__ or error.__context__
    return cause is not None and cause is not error and is_transient(cause)


def with_retries(attempt: Callable[[], T], *, attempts: int = ATTEMPTS, backoff: float = BACKOFF_SECONDS) -> T:
    """Run `attempt`; on a transient error wait and run it again, at most `attempts` times in all (the last
    error is raised). A content error is raised at once."""
    for n in range(attempts):
        try:
            return attempt()
        except Exception as error:
            if n == attempts - 1 or not is_transient(error):
                raise
            time.sleep(backoff * 2**n)
    raise AssertionError("unreachable")
