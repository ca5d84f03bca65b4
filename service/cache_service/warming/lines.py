"""One payload per line (JSON Lines), judged by the rules the API applies to a request body.

A line that breaks a rule is reported with the reason the API would give (the same parser,
model and limits), so a file that warms cleanly is a file the API accepts line by line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

from fastapi.exceptions import RequestValidationError

from ..http.contract import PayloadLimits, PayloadRequest, parse_payload
from ..settings import Settings


@dataclass(frozen=True, slots=True)
class Line:
    """One input line, numbered from 1; ``text`` is None when the line was too long to read."""

    number: int
    text: bytes | None


@dataclass(frozen=True, slots=True)
class Judged:
    """A line's payload, or why the API would refuse it."""

    number: int
    payload: PayloadRequest | None
    error: str | None = None


def read_lines(source: IO[bytes], *, max_bytes: int, first: int = 1) -> Iterator[Line]:
    """The non-blank lines of ``source``; one longer than ``max_bytes`` is skipped unread (the
    API answers such a body 413), so a stray huge line never sits whole in memory."""
    number = first - 1
    while True:
        raw = source.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while (rest := source.readline(65_536)) and not rest.endswith(b"\n"):
                pass
            yield Line(number, None)
            continue
        if raw.strip():
            yield Line(number, raw)


def open_source(path: str, stack: ExitStack) -> IO[bytes] | None:
    """``path`` opened for reading on ``stack`` (``-``: stdin), or None after saying why."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return stack.enter_context(open(path, "rb"))
    except OSError as exc:
        print(f"warm: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return None


class LineJudge:
    """Parses and checks lines as ``POST /payload`` parses and checks bodies."""

    def __init__(self, limits: PayloadLimits, *, max_bytes: int) -> None:
        self._limits = limits
        self._max_bytes = max_bytes

    @classmethod
    def for_settings(cls, settings: Settings) -> LineJudge:
        """The judge of the API these settings configure: its item, string and body limits."""
        return cls(
            PayloadLimits(settings.max_items, settings.max_string_length),
            max_bytes=settings.max_body_bytes,
        )

    @property
    def max_bytes(self) -> int:
        """The longest line read whole (``CACHE_MAX_BODY_BYTES``)."""
        return self._max_bytes

    def judge(self, line: Line) -> Judged:
        if line.text is None:
            return Judged(
                line.number,
                None,
                f"line exceeds the limit of {self._max_bytes} bytes (CACHE_MAX_BODY_BYTES)",
            )
        try:
            payload = parse_payload(line.text)
            self._limits.check(payload)
        except RequestValidationError as exc:
            return Judged(line.number, None, describe(exc.errors()))
        return Judged(line.number, payload)


def describe(errors: Any) -> str:
    """The API's 422 ``detail`` as one line: each location and its reason."""
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        reason = (error.get("ctx") or {}).get("error")
        message = str(error.get("msg", "invalid"))
        if isinstance(reason, str):
            message = f"{message}: {reason}"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
