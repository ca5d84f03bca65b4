"""HTTP: routes, status codes and headers; the request and response models live in contract.py."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import Scope

from . import request_id
from .contract import (
    ID_PATTERN,
    ErrorResponse,
    PayloadRequest,
    PayloadResponse,
    parse_payload,
    request_body_doc,
)
from .errors import TransformerError, TransformerTimeout, Unavailable, WaitTimeout
from .guard import read_json_body
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .service import PayloadService, Result
from .settings import Settings
from .tiers.ports import CacheTier, DurableStore

IMMUTABLE = "public, max-age=31536000, immutable"

log = logging.getLogger(__name__)


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_RETRY_LATER = _error("A tier is unavailable or the work is held elsewhere; see Retry-After.")


def install_routes(
    app: FastAPI,
    service: PayloadService,
    settings: Settings,
    metrics: Metrics,
    tiers: list[CacheTier | DurableStore],
) -> None:
    """The routes, closed over the objects they need (no globals, no lookups per request).

    Registered on the app itself: ``include_router`` adds a routing indirection per request
    that the benchmark's profile showed at about 9% of a cache hit.
    """
    router = app.router
    store_name = tiers[-1].name

    def check_limits(body: PayloadRequest) -> None:
        errors: list[dict[str, Any]] = []
        for field in ("list_1", "list_2"):
            values: list[str] = getattr(body, field)
            if len(values) > settings.max_items:
                errors.append(
                    {
                        "type": "too_long",
                        "loc": ["body", field],
                        "msg": f"must have at most {settings.max_items} items "
                        f"(CACHE_MAX_ITEMS), got {len(values)}",
                    }
                )
            for index, value in enumerate(values):
                if len(value) > settings.max_string_length:
                    errors.append(
                        {
                            "type": "string_too_long",
                            "loc": ["body", field, index],
                            "msg": f"must have at most {settings.max_string_length} "
                            f"characters (CACHE_MAX_STRING_LENGTH), got {len(value)}",
                        }
                    )
        if errors:
            raise RequestValidationError(errors)

    @router.post(
        "/payload",
        status_code=201,
        response_model=PayloadResponse,
        summary="Transform, interleave and store a payload; return its id",
        openapi_extra=request_body_doc(settings.max_items, settings.max_string_length),
        responses={
            200: {"model": PayloadResponse, "description": "Already stored (X-Cache: HIT)."},
            201: {"model": PayloadResponse, "description": "Computed now (X-Cache: MISS)."},
            408: _error("The body did not arrive in time."),
            413: _error("The body is larger than CACHE_MAX_BODY_BYTES."),
            415: _error("The body is not JSON."),
            422: _error("The payload breaks a rule; `detail` names the field and the rule."),
            502: _error("The transformer failed."),
            503: _RETRY_LATER,
            504: _error("The transformer timed out."),
        },
    )
    async def post_payload(request: Request) -> Response:
        raw = await read_json_body(
            request, max_bytes=settings.max_body_bytes, timeout_s=settings.body_read_timeout_s
        )
        body = parse_payload(raw)
        check_limits(body)
        # Set on Lambda (``aws.InvocationBudget``): the invocation's end, less a margin.
        deadline: float | None = request.scope.get("cache.deadline")
        result = await service.submit(body.list_1, body.list_2, deadline=deadline)
        return _payload_response(
            result,
            status=201 if result.created else 200,
            headers={
                "Location": f"{request.scope.get('root_path', '')}/payload/{result.id}",
                **_cache_headers(result),
            },
        )

    @router.get(
        "/payload/{id}",
        response_model=PayloadResponse,
        summary="The stored result for an id",
        responses={
            304: {"description": "Unchanged: If-None-Match matched the ETag."},
            404: _error("No payload with this id."),
            422: _error("The id is not 64 lowercase hex characters."),
            503: _RETRY_LATER,
        },
    )
    async def get_payload(
        id: Annotated[str, Path(pattern=ID_PATTERN, description="A payload id.")],
        request: Request,
    ) -> Response:
        # Documents the route (OpenAPI); requests are served by ``serve_get`` below.
        return await answer_get(id, request)

    async def answer_get(id: str, request: Request) -> Response:
        result = await service.fetch(id)
        if result is None:
            return JSONResponse({"detail": f"no payload with id {id}"}, status_code=404)
        etag = f'"{result.id}"'
        headers = {"ETag": etag, "Cache-Control": IMMUTABLE, **_cache_headers(result)}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return _payload_response(result, status=200, headers=headers)

    id_pattern = re.compile(ID_PATTERN)

    async def serve_get(request: Request) -> Response:
        # The hit path without FastAPI's parameter solving, which the profile put at the
        # largest share of a GET hit's CPU: one regex, and the same 422 when it fails.
        id = request.path_params["id"]
        if id_pattern.fullmatch(id) is None:
            raise RequestValidationError(
                [
                    {
                        "type": "string_pattern_mismatch",
                        "loc": ("path", "id"),
                        "msg": f"String should match pattern '{ID_PATTERN}'",
                        "ctx": {"pattern": ID_PATTERN},
                    }
                ]
            )
        return await answer_get(id, request)

    # Both hit paths are served by plain routes, first in the table; the FastAPI routes above
    # stay for the OpenAPI document (and answer nothing). FastAPI's per-request parameter
    # solving was the largest share of a GET hit's CPU in the profile (bench/PROFILE.md).
    router.routes[0:0] = [
        _NamedRoute("/payload", post_payload, methods=["POST"], include_in_schema=False),
        _NamedRoute("/payload/{id}", serve_get, methods=["GET"], include_in_schema=False),
    ]

    @router.get("/health", summary="Liveness: the process answers (no I/O)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        summary="Readiness: every configured tier answers, and the durable store takes a write",
        responses={503: {"description": "The durable store cannot be reached or written."}},
    )
    async def ready() -> JSONResponse:
        checks = await asyncio.gather(*(_ping(tier, settings.store_timeout_s) for tier in tiers))
        states = {tier.name: state for tier, state in zip(tiers, checks, strict=True)}
        if states[store_name] != "ok":
            status, code = "unavailable", 503
        elif any(state != "ok" for state in states.values()):
            # A cache tier down costs speed, not correctness: stay in service.
            status, code = "degraded", 200
        else:
            status, code = "ready", 200
        return JSONResponse({"status": status, "tiers": states}, status_code=code)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


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


class _NamedRoute(Route):
    """A Starlette route that puts itself in the scope, as FastAPI's routes do: the request
    metrics label by ``scope["route"].path``, the template, never the raw path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child = {**child, "route": self}
        return match, child


def install_error_handlers(app: FastAPI) -> None:
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


# One encoder for the process: json.dumps with non-default options builds a new encoder per
# call, which the hit-path profile showed. The id is hex, so only the output needs escaping.
_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def _payload_response(result: Result, *, status: int, headers: dict[str, str]) -> Response:
    body = f'{{"id":"{result.id}","output":{_encode_string(result.output)}}}'
    return Response(body.encode(), status, headers, media_type="application/json")


def _cache_headers(result: Result) -> dict[str, str]:
    if result.created:
        return {"X-Cache": "MISS"}
    headers = {"X-Cache": "HIT"}
    if result.tier is not None:
        headers["X-Cache-Tier"] = result.tier
    return headers


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


async def _ping(tier: CacheTier | DurableStore, timeout_s: float) -> str:
    """``ok`` or ``error``; the cause goes to the log, where paths and library messages belong."""
    try:
        await asyncio.wait_for(tier.ping(), timeout_s)
    except Exception as exc:
        # The cause names paths and hosts: the log has it, the client gets one word. One line
        # per failed check, no traceback: a load balancer asks every few seconds.
        log.warning("readiness check of %s failed: %s: %s", tier.name, type(exc).__name__, exc)
        return "error"
    return "ok"
