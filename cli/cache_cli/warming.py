"""``--warm``: every line of a JSON Lines file POSTed once, each line's outcome reported.

For a user who has only the URL: the same connections, headers and timeouts as a load run, but
no GET, no repeats and no checks beyond "is it stored". Lines are read as they are sent, so a
million-line file costs the memory of a few chunks and of the reorder window.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .connection import Connection, Response, TransportError, encode_request
from .errors import InputError
from .exchange import error_detail, transport_error
from .lines import MAX_LINE_BYTES, Line, LineReader
from .ordering import ReorderWindow
from .pacing import Pacer
from .runner import Stop
from .target import Target

_ID = re.compile(r"[0-9a-f]{64}")
# Refusals of the payload itself: sending it again cannot help.
INVALID_STATUSES = frozenset({400, 413, 422})
# The longest wait a Retry-After may ask for; past it, the bound on retries would mean hours.
MAX_RETRY_WAIT_S = 60.0


class Status(StrEnum):
    """What became of one line."""

    CREATED = "created"  # 201: this request's work stored it.
    PRESENT = "present"  # 200: it was stored already.
    INVALID = "invalid"  # Refused as a payload, by the server or before sending.
    FAILED = "failed"  # No verdict on the payload: an error status, a timeout, no connection.


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line's report: ``error`` only when invalid or failed."""

    line: int
    id: str | None
    status: Status
    error: str | None = None

    @property
    def stored(self) -> bool:
        return self.status in (Status.CREATED, Status.PRESENT)

    def as_json(self) -> str:
        fields: dict[str, Any] = {"line": self.line, "id": self.id, "status": str(self.status)}
        if self.error is not None:
            fields["error"] = self.error
        return json.dumps(fields, ensure_ascii=False)


class WarmCounts:
    """The run so far, read by the live display and the summary."""

    def __init__(self) -> None:
        self.lines = 0  # Reported lines; blank ones are not.
        self.blank = 0
        self.by_status = dict.fromkeys(Status, 0)
        self.requests = 0
        self.retries = 0
        self.bytes_done = 0  # Input consumed by finished lines: progress through a file.
        self.first_problem: str | None = None

    @property
    def not_stored(self) -> int:
        return self.by_status[Status.INVALID] + self.by_status[Status.FAILED]

    def add(self, result: LineResult, size: int) -> None:
        """A line finished (in any order)."""
        self.lines += 1
        self.bytes_done += size
        self.by_status[result.status] += 1

    def reported(self, result: LineResult) -> None:
        """A line reported (in input order): the first problem is the first in the input."""
        if result.error is not None and self.first_problem is None:
            where = f"line {result.line}"
            self.first_problem = (
                result.error if result.error.startswith(where) else f"{where}: {result.error}"
            )

    def skip_blank(self, size: int) -> None:
        self.blank += 1
        self.bytes_done += size


def local_problem(line: Line) -> str | None:
    """Why a line cannot be a payload, found without sending it; None to let the server judge.

    Only the shape is checked here (a JSON object with two arrays): the rules on the strings and
    their numbers are the deployment's, and its 422 says which one a line broke.
    """
    if line.too_long:
        return f"longer than {MAX_LINE_BYTES >> 20} MiB"
    try:
        value = json.loads(line.text.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as error:
        return f"not UTF-8 (byte {error.start + 1})"
    except json.JSONDecodeError as error:
        return f"invalid JSON: {error.msg} at column {error.colno}"
    if not isinstance(value, dict):
        return f"expected a JSON object with list_1 and list_2, got {_json_type(value)}"
    for name in ("list_1", "list_2"):
        if name not in value:
            return f"{name} is missing"
        if not isinstance(value[name], list):
            return f"{name} must be an array, got {_json_type(value[name])}"
    return None


class Warmer:
    """Sends one line's POST, retrying 429 and 503-with-Retry-After, and says what became of it."""

    def __init__(
        self,
        target: Target,
        headers: dict[str, str],
        counts: WarmCounts,
        *,
        timeout_s: float,
        retries: int,
        pacer: Pacer | None = None,
    ) -> None:
        self.target = target
        self._headers = headers
        self._counts = counts
        self._timeout_s = timeout_s
        self._retries = retries
        self._pacer = pacer

    async def send(self, connection: Connection, line: Line) -> LineResult:
        """The line POSTed as it is (whitespace trimmed), once, plus its bounded retries."""
        body = line.text.strip().removeprefix(b"\xef\xbb\xbf")
        request = encode_request("POST", self.target, self.target.payload_path, self._headers, body)
        retried = 0
        while True:
            if self._pacer is not None:
                await self._pacer.wait()
            self._counts.requests += 1
            try:
                response = await connection.request_within(request, self._timeout_s)
            except TransportError as failure:  # Not retried: the request may have been done.
                return LineResult(line.number, None, Status.FAILED, transport_error(failure))
            wait_s = retry_wait(response, retried)
            if wait_s is None or retried == self._retries:
                return _judge(line.number, response, retried)
            retried += 1
            self._counts.retries += 1
            await asyncio.sleep(wait_s)


def retry_wait(response: Response, retried: int) -> float | None:
    """Seconds to wait before asking again, or None when the answer is final.

    429 (throttled, as API Gateway says it without Retry-After) and 503 with Retry-After (the
    service's store unavailable or the work held elsewhere) are worth asking again; a 503
    without it (a gateway with no backend) is not.
    """
    after = _seconds(response.retry_after)
    if response.status == 429:
        return after if after is not None else min(2.0**retried, MAX_RETRY_WAIT_S)
    if response.status == 503 and after is not None:
        return after
    return None


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), at most ``MAX_RETRY_WAIT_S``."""
    if retry_after is None:
        return None
    text = retry_after.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_WAIT_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_WAIT_S)


def _judge(number: int, response: Response, retried: int) -> LineResult:
    status = response.status
    if status in (200, 201):
        answer = _json_object(response.body)
        payload_id = answer.get("id")
        if not isinstance(payload_id, str) or _ID.fullmatch(payload_id) is None:
            return LineResult(number, None, Status.FAILED, f"HTTP {status} without an id")
        return LineResult(number, payload_id, Status.CREATED if status == 201 else Status.PRESENT)
    error = f"HTTP {status}: {error_detail(response)}"
    if status in INVALID_STATUSES:
        return LineResult(number, None, Status.INVALID, error)
    if retried:
        error += f" (still, after {retried} {'retry' if retried == 1 else 'retries'})"
    return LineResult(number, None, Status.FAILED, error)


@dataclass(frozen=True)
class WarmResult:
    """How long the run took and why it stopped early, if it did."""

    duration_s: float
    stopped: str | None


async def run_warm(
    reader: LineReader,
    warmer: Warmer,
    counts: WarmCounts,
    report: Callable[[LineResult], None],
    *,
    concurrency: int,
    stop: Stop,
) -> WarmResult:
    """Every line of ``reader`` through ``warmer`` on ``concurrency`` connections, reported to
    ``report`` in input order, until the input ends or ``stop`` is called.

    On a stop, lines in flight are abandoned unreported; finished ones are reported in order.
    """
    target = warmer.target
    tls = ssl.create_default_context() if target.tls else None
    connections = [Connection(target, tls) for _ in range(concurrency)]

    # Far enough ahead that one slow line (a retry's wait) rarely idles the other connections.
    def emit(result: LineResult) -> None:
        counts.reported(result)
        report(result)

    window: ReorderWindow[LineResult] = ReorderWindow(max(1024, 16 * concurrency), emit)
    jobs: asyncio.Queue[tuple[int, Line] | None] = asyncio.Queue(maxsize=concurrency)

    async def feed() -> None:
        try:
            async for line in reader.lines():
                if not line.too_long and not line.text.strip():
                    counts.skip_blank(line.size)
                    continue
                sequence = await window.admit()
                problem = local_problem(line)
                if problem is None:
                    await jobs.put((sequence, line))
                    continue
                result = LineResult(
                    line.number, None, Status.INVALID, f"line {line.number} not sent: {problem}"
                )
                counts.add(result, line.size)
                window.done(sequence, result)
        except InputError as error:  # Mid-way: what was sent stays sent and reported.
            stop(str(error))
            return
        for _ in connections:
            await jobs.put(None)

    async def work(connection: Connection) -> None:
        while (job := await jobs.get()) is not None:
            sequence, line = job
            result = await warmer.send(connection, line)
            counts.add(result, line.size)
            window.done(sequence, result)

    async def everything() -> None:
        async with asyncio.TaskGroup() as group:  # A bug in one task cancels the others.
            group.create_task(feed())
            for connection in connections:
                group.create_task(work(connection))

    started = time.perf_counter()
    running = asyncio.create_task(everything())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((running, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        running.cancel()
        await asyncio.wait((running,))
        for connection in connections:
            connection.close()
        reader.close()
    if not running.cancelled():
        running.result()  # A bug surfaces here.
    window.release()
    return WarmResult(duration_s=time.perf_counter() - started, stopped=stop.reason)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode())
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
