"""One id per request: read from ``X-Request-ID`` or made here, returned and logged with it.

A client quotes the id; the operator finds every log line of that request by it. The id lives
in a context variable, so a logging filter can stamp it on lines that know nothing of HTTP.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

HEADER = "x-request-id"
HEADER_BYTES = HEADER.encode("ascii")
MAX_LENGTH = 128
# Visible ASCII only: an id is copied into log lines and headers, where a control character,
# a newline or a multi-byte sequence could forge or break a line.
_ACCEPTED = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LENGTH)
NO_REQUEST = "-"

current: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def new_id() -> str:
    """A fresh id: 32 hex characters (128 random bits), unique without coordination."""
    # os.urandom directly: uuid4() builds a UUID object per request for the same bytes.
    return os.urandom(16).hex()


def accept(value: bytes | None) -> str:
    """The client's id when it is short and printable, else a fresh one."""
    if value is not None and _ACCEPTED.fullmatch(value):
        return value.decode("ascii")
    return new_id()


def from_headers(headers: list[tuple[bytes, bytes]]) -> str:
    """The id for a request with these (lower-case) ASGI headers."""
    for name, value in headers:
        if name == HEADER_BYTES:
            return accept(value)
    return new_id()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request), for the log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True
