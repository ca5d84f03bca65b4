"""Optional API keys: the routes that cost money (and, on request, the operator's) need one.

Keys are compared as SHA-256 digests with ``hmac.compare_digest``, every configured key every
time: the time a check takes says nothing about how much of a key was right, nor which key
matched. Two keys may be listed at once, which is how one is rotated: add the new one, move
the clients, drop the old. A key never reaches a log line: it lives in a ``SecretStr``, and
the refusal names the header, not what was sent.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import HTTPException, Request

HEADER = "x-api-key"
REFUSED = f"a valid API key is required in the {HEADER} header"
#: RFC 9110 wants a challenge with a 401; API keys have no registered scheme, so this names ours.
CHALLENGE = f'ApiKey realm="cache-service", header="{HEADER}"'

Compare = Callable[[bytes, bytes], bool]


class ApiKeys:
    """The keys a request may present (see the module)."""

    def __init__(self, keys: Sequence[str], *, compare: Compare = hmac.compare_digest) -> None:
        if not keys:
            raise ValueError("at least one API key")
        self._digests = [_digest(key) for key in keys]
        self._compare = compare

    def allows(self, presented: str | None) -> bool:
        """Whether ``presented`` is one of the keys, in time independent of which or how close."""
        digest = _digest(presented or "")
        matched = False
        for key in self._digests:  # every key, always: no early exit
            matched |= self._compare(digest, key)
        return matched and presented is not None

    def check(self, request: Request) -> None:
        """Raise the 401 for a request without a valid key."""
        if not self.allows(request.headers.get(HEADER)):
            raise HTTPException(401, REFUSED, headers={"WWW-Authenticate": CHALLENGE})

    def guard(self, endpoint: Callable[[Request], Awaitable[Any]]) -> Callable[..., Any]:
        """``endpoint``, answering 401 first when the request has no valid key."""

        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Any:
            self.check(request)
            return await endpoint(request)

        return guarded

    def openapi(self, document: dict[str, Any], paths: Sequence[str]) -> None:
        """State the key in an OpenAPI ``document``: the scheme, and the ``paths`` needing it."""
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {})["ApiKey"] = {
            "type": "apiKey",
            "in": "header",
            "name": HEADER,
        }
        for path in paths:
            for operation in document.get("paths", {}).get(path, {}).values():
                operation["security"] = [{"ApiKey": []}]
                operation.setdefault("responses", {})["401"] = {
                    "description": f"No valid API key in {HEADER}.",
                    "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA}}},
                }


ERROR_SCHEMA = "#/components/schemas/ErrorResponse"


def _digest(key: str) -> bytes:
    # surrogateescape: a header's bytes arrive as latin-1 text; any of them hashes.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
