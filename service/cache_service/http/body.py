"""Reading a request body defensively: type, size and read time checked before parsing."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException, Request


async def read_json_body(request: Request, *, max_bytes: int, timeout_s: float) -> bytes:
    """The body of a JSON request, or an ``HTTPException`` that says why not.

    415 for a body that is not JSON; 413 as soon as the declared or received size passes
    ``max_bytes`` (a 10 MB body is never held whole); 408 when the client trickles its body
    slower than ``timeout_s`` allows, so a slow client cannot hold a worker forever. Called by
    the route, after routing, so an unknown path or method still gets its 404 or 405.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(
            415, f"Content-Type must be application/json, not {content_type or 'none'}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, _too_large(max_bytes))
    # The raw ASGI messages, not request.stream(): the async generator cost more than the
    # rest of a cache hit's body handling. Usually the first message holds the whole body.
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise HTTPException(400, "client disconnected before sending its body")
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > max_bytes:
                    raise HTTPException(413, _too_large(max_bytes))
                if not message.get("more_body", False):
                    return b"".join((*chunks, chunk)) if chunks else chunk
                chunks.append(chunk)  # joined once at the end: += would copy quadratically
    except TimeoutError:
        raise HTTPException(408, f"request body not received within {timeout_s}s") from None


def _too_large(max_bytes: int) -> str:
    return f"request body exceeds the limit of {max_bytes} bytes (CACHE_MAX_BODY_BYTES)"
