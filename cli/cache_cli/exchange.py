"""One iteration on one connection: POST the payload, check the answer, GET the id, check again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .connection import Connection, Response, TransportError, encode_request
from .consistency import ConsistencyCheck
from .pacing import Pacer
from .plan import Iteration
from .records import GET, POST, RequestRecord
from .target import Target, redact

# The statuses the contract answers a well-formed request with.
_ALLOWED = {POST: (200, 201), GET: (200,)}


class Exchange:
    """Sends an iteration's requests, each within ``timeout_s`` from connect to last byte."""

    def __init__(
        self,
        target: Target,
        headers: dict[str, str],
        *,
        timeout_s: float,
        check: ConsistencyCheck,
        record: Callable[[RequestRecord], None],
        pacer: Pacer | None = None,
        get: bool = True,
    ) -> None:
        self._target = target
        self._headers = headers
        self._timeout_s = timeout_s
        self._check = check
        self._record = record
        self._pacer = pacer
        self._get = get

    async def run(self, connection: Connection, iteration: Iteration) -> None:
        answer = await self._send(connection, iteration, POST, iteration.request)
        if answer is None:
            return
        response, latency = answer
        posted = self._check.post(iteration.key, response.status, response.cache, response.body)
        self._record(
            RequestRecord(
                iteration.number,
                iteration.payload,
                POST,
                response.status,
                latency,
                response.cache,
                posted.id,
                failed=tuple(posted.failed),
            )
        )
        if posted.id is None or not self._get:
            return
        path = self._target.item_path(posted.id)
        request = encode_request("GET", self._target, path, self._headers)
        answer = await self._send(connection, iteration, GET, request)
        if answer is None:
            return
        response, latency = answer
        failed = self._check.get(posted.id, posted.output, response.body)
        self._record(
            RequestRecord(
                iteration.number,
                iteration.payload,
                GET,
                response.status,
                latency,
                response.cache,
                posted.id,
                failed=tuple(failed),
            )
        )

    async def _send(
        self, connection: Connection, iteration: Iteration, endpoint: str, request: bytes
    ) -> tuple[Response, float] | None:
        """The answer and its latency in ms when its status is allowed; else records a failure."""
        if self._pacer is not None:
            await self._pacer.wait()
        started = time.perf_counter()
        status: int | None = None
        cache: str | None = None
        try:
            response = await connection.request_within(request, self._timeout_s)
        except TransportError as failure:
            kind, error = failure.kind, transport_error(failure)
        else:
            if response.status in _ALLOWED[endpoint]:
                return response, (time.perf_counter() - started) * 1000
            status, cache = response.status, response.cache
            kind, error = f"HTTP {status}", f"HTTP {status}: {error_detail(response)}"
        latency = (time.perf_counter() - started) * 1000
        self._record(
            RequestRecord(
                iteration.number,
                iteration.payload,
                endpoint,
                status,
                latency,
                cache,
                None,
                error=error,
                error_kind=kind,
            )
        )
        return None


def transport_error(failure: TransportError) -> str:
    """Why no answer came, on one line, with any password in a URL hidden."""
    return redact(f"{failure.kind}: {failure}")


def error_detail(response: Response) -> str:
    """A refusal's ``detail`` (FastAPI's list of validation errors included) as one short line."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    detail = body.get("detail", body.get("message")) if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI's validation errors: say where and what.
        detail = "; ".join(_validation_error(item) for item in detail)
    text = str(detail) if detail is not None else response.body.decode("utf-8", "replace")
    return " ".join(text.split())[:200] or "(no body)"


def _validation_error(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", []))
    return f"{where}: {item.get('msg')}" if where else str(item.get("msg"))
