"""Named failures of the domain; the HTTP layer maps each to one status code."""

from __future__ import annotations


class CacheServiceError(Exception):
    """Base of the service's named failures; those a client can meet map to one status each."""


class TransformerError(CacheServiceError):
    """The transformer failed or answered nonsense (HTTP 502)."""


class TransformerTimeout(TransformerError):
    """The transformer did not answer in time (HTTP 504)."""


class OutOfTime(TransformerTimeout):
    """The request's time (a Lambda invocation's, less a margin) ran out first (HTTP 504)."""


class TransformerOutputTooLarge(TransformerError):
    """The transformer answered more than the output bounds allow (HTTP 502); nothing of that
    call, or of that payload, is stored."""


class Unavailable(CacheServiceError):
    """A required tier cannot be reached now; retrying later may succeed (HTTP 503)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(Unavailable):
    """The durable store did not answer; no id is handed out without it."""


class WaitTimeout(Unavailable):
    """Another request holds the work and did not finish within the wait bound."""
