"""Every failure leaves as JSON with a ``detail``: no traceback, no HTML, no internals.

Each named failure of the domain maps to one status code here.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import TransformerError, TransformerTimeout, Unavailable, WaitTimeout
from . import request_id

log = logging.getLogger(__name__)

# What a client is told about a failure on our side: stable sentences, never the cause. The
# cause (the transformer's answer and URL, file paths, library messages) can hold secrets and
# goes to the log, under the request id the client gets with the answer.
TRANSFORMER_FAILED = "the transformer failed; quote the request id to the operator"
TRANSFORMER_TIMED_OUT = "the transformer did not answer in time; retry later"
STORE_UNAVAILABLE = "the durable store is unavailable; retry after Retry-After seconds"
WORK_HELD = "another request holds this work and has not finished; retry after Retry-After seconds"
INTERNAL_ERROR = "internal error; quote the request id to the operator"


def _failure(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A failure on our side; ``ObserveRequests`` adds the ``X-Request-ID`` header."""
    body = {"detail": detail, "request_id": request_id.current.get()}
    return JSONResponse(body, status_code=status, headers=headers)


def install_failure_handlers(app: FastAPI) -> None:
    """Every failure leaves as JSON with a ``detail``; no traceback, no HTML, no internals."""

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # Echoing the input back could return megabytes; the location and rule suffice.
        detail = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": _message(e)}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    async def transformer_failed(request: Request, exc: Exception) -> Response:
        timed_out = isinstance(exc, TransformerTimeout)
        status = 504 if timed_out else 502
        log.error("%d for %s %s: %s", status, request.method, request.url.path, exc)
        return _failure(status, TRANSFORMER_TIMED_OUT if timed_out else TRANSFORMER_FAILED)

    async def unavailable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Unavailable)
        # The one line the person on call needs: which request, and what was unavailable.
        log.warning("503 for %s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        detail = WORK_HELD if isinstance(exc, WaitTimeout) else STORE_UNAVAILABLE
        return _failure(503, detail, {"Retry-After": str(exc.retry_after_s)})

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Starlette would answer text/plain; on Lambda an escaping exception would become a
        # bare API Gateway 502 the client cannot act on.
        log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        # This handler runs outside every middleware, so it sets the id header itself.
        return _failure(500, INTERNAL_ERROR, {"X-Request-ID": request_id.current.get()})

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(TransformerError, transformer_failed)
    app.add_exception_handler(Unavailable, unavailable)


def _message(error: dict[str, Any]) -> str:
    reason = (error.get("ctx") or {}).get("error")
    message = str(error.get("msg", "invalid"))
    # The JSON parser's reason ("Expecting ',' delimiter") is the useful part of its error.
    return f"{message}: {reason}" if isinstance(reason, str) else message
