"""``POST /payload`` and ``GET /payload/{id}``: the two routes the service exists for.

Status codes and headers live here; the wire format in ``contract``, the work in ``service``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..service import PayloadService, Result
from .api_keys import ApiKeys
from .body import read_json_body
from .contract import ID_PATTERN, ErrorResponse, PayloadLimits, PayloadResponse, parse_payload
from .openapi import ServedRoute

IMMUTABLE = "public, max-age=31536000, immutable"


def error_doc(description: str) -> dict[str, Any]:
    """An error response's OpenAPI entry: the JSON body every failure has."""
    return {"model": ErrorResponse, "description": description}


ALREADY_STORED = "Already stored (X-Cache: HIT)."
COMPUTED_NOW = "Computed now (X-Cache: MISS)."
RETRY_LATER_DOC = error_doc("A tier is unavailable or the work is held elsewhere; see Retry-After.")


def _open(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[..., Any]:
    return endpoint


class PayloadRoutes:
    """The payload routes, holding the objects they need (no globals, no lookups per request)."""

    def __init__(
        self,
        service: PayloadService,
        limits: PayloadLimits,
        *,
        max_body_bytes: int,
        body_read_timeout_s: float,
        keys: ApiKeys | None = None,
        shared_cache: bool = False,
    ) -> None:
        self._keys = keys
        self._shared_cache = shared_cache
        self._service = service
        self._limits = limits
        self._max_body_bytes = max_body_bytes
        self._body_read_timeout_s = body_read_timeout_s
        self._id_pattern = re.compile(ID_PATTERN)

    def routes(self) -> list[ServedRoute]:
        """Both routes, with their OpenAPI descriptions; behind the API keys when there are."""
        guard = self._keys.guard if self._keys is not None else _open
        return [
            ServedRoute(
                "/payload",
                guard(self.post_payload),
                method="POST",
                status_code=201,
                response_model=PayloadResponse,
                summary="Transform, interleave and store a payload; return its id",
                openapi_extra=self._limits.request_body(),
                responses={
                    200: {
                        "model": PayloadResponse,
                        "description": "Already stored (X-Cache: HIT).",
                    },
                    201: {"model": PayloadResponse, "description": "Computed now (X-Cache: MISS)."},
                    408: error_doc("The body did not arrive in time."),
                    413: error_doc("The body is larger than CACHE_MAX_BODY_BYTES."),
                    415: error_doc("The body is not JSON."),
                    422: error_doc(
                        "The payload breaks a rule; `detail` names the field and the rule."
                    ),
                    502: error_doc("The transformer failed."),
                    503: RETRY_LATER_DOC,
                    504: error_doc("The transformer timed out."),
                },
            ),
            ServedRoute(
                "/payload/{id}",
                guard(self.get_payload),
                method="GET",
                response_model=PayloadResponse,
                summary="The stored result for an id",
                openapi_extra={"parameters": [ID_PARAMETER]},
                responses={
                    304: {"description": "Unchanged: If-None-Match matched the ETag."},
                    404: error_doc("No payload with this id."),
                    422: error_doc("The id is not 64 lowercase hex characters."),
                    503: RETRY_LATER_DOC,
                },
            ),
        ]

    async def post_payload(self, request: Request) -> Response:
        raw = await read_json_body(
            request, max_bytes=self._max_body_bytes, timeout_s=self._body_read_timeout_s
        )
        body = parse_payload(raw)
        self._limits.check(body)
        # Set on Lambda (``aws.handler.InvocationBudget``): the invocation's end, less a margin.
        deadline: float | None = request.scope.get("cache.deadline")
        result = await self._service.submit(body.list_1, body.list_2, deadline=deadline)
        return _payload_response(
            result,
            status=201 if result.created else 200,
            headers={
                "Location": f"{request.scope.get('root_path', '')}/payload/{result.id}",
                **_cache_headers(result),
            },
        )

    async def get_payload(self, request: Request) -> Response:
        id_ = request.path_params["id"]
        if self._id_pattern.fullmatch(id_) is None:
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
        result = await self._service.fetch(id_)
        if result is None:
            return JSONResponse({"detail": f"no payload with id {id_}"}, status_code=404)
        etag = f'"{result.id}"'
        headers = {"ETag": etag, "Cache-Control": IMMUTABLE, **_cache_headers(result)}
        if self._shared_cache:  # replayed to others: the tier was this request's alone
            headers.pop("X-Cache-Tier", None)
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return _payload_response(result, status=200, headers=headers)


#: The id in ``GET /payload/{id}``, as OpenAPI states a path parameter.
ID_PARAMETER = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "A payload id.",
    "schema": {
        "type": "string",
        "pattern": ID_PATTERN,
        "title": "Id",
        "description": "A payload id.",
    },
}

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
