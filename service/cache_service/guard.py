"""Checks on a request body before any of it is parsed: type, size and read time."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestGuard:
    """Buffers a request body up to a limit and a deadline, then hands it to the app.

    Answers 415 for a body that is not JSON, 413 as soon as the declared or received size
    passes the limit (a 10 MB body is never held whole), 408 when a client trickles its body
    slower than the deadline allows (a slow client cannot hold a worker forever). Only POST
    carries a body in this API; other methods pass untouched, so routing can answer 405.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, read_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json" and not content_type.endswith(b"+json"):
            shown = content_type.decode("latin-1") or "none"
            await _reject(send, 415, f"Content-Type must be application/json, not {shown}")
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _reject(send, 413, self._too_large())
            return

        body = bytearray()
        deadline = time.monotonic() + self.read_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0))
            except TimeoutError:
                await _reject(send, 408, f"request body not received within {self.read_timeout_s}s")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _reject(send, 413, self._too_large())
                return
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return (
            f"request body exceeds the limit of {self.max_body_bytes} bytes (CACHE_MAX_BODY_BYTES)"
        )


async def _reject(send: Send, status: int, detail: str) -> None:
    content = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
