"""A real HTTP transformer on a free port that counts its calls and can be told to fail."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .processes import free_port

Mode = Literal["ok", "fail", "hang", "garbage", "short", "deny", "huge", "gzip", "trickle"]
# What "deny" answers: a body with a secret and a path, which must never reach a client.
DENIAL = "<html>denied: key=sk-live-123 at /srv/transformer/app.py:42</html>"

_CHUNK = b"x" * 65536


@dataclass
class TransformerServer:
    """Upper-cases ``{"input": s}`` (or a batch, ``{"inputs": [...]}``) after ``delay_s``;
    ``mode`` switches on failures: ``huge`` streams ``huge_bytes`` of output per input,
    ``gzip`` compresses a correct answer although the client asked for none, ``trickle``
    sends one byte of an endless answer every 0.1 s.

    ``refuse`` names strings the transformer fails on: a call carrying one answers 503, as a
    transformer that cannot make one input fails its whole call.

    ``calls`` counts every string sent per input, ``requests`` the calls (a batch is one),
    ``max_in_flight`` the most served at once, ``streamed_bytes`` what ``huge`` answers
    produced before the client hung up, so tests can check exactly-once, batching,
    concurrency and bounded reads without timing anything.
    """

    delay_s: float = 0.02
    mode: Mode = "ok"
    huge_bytes: int = 20 * 1024 * 1024
    refuse: frozenset[str] = frozenset()
    streamed_bytes: int = 0
    port: int = field(default_factory=free_port)
    calls: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/transform"

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.requests = 0
            self.max_in_flight = 0
            self.streamed_bytes = 0

    async def _transform(self, request: Request) -> Response:
        body = await request.json()
        batched = "inputs" in body
        inputs: list[str] = body["inputs"] if batched else [body["input"]]
        with self._lock:
            self.calls.update(inputs)
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.mode == "hang":
                await asyncio.sleep(3600)
            await asyncio.sleep(self.delay_s)
            if self.mode == "fail" or not self.refuse.isdisjoint(inputs):
                return JSONResponse({"error": "deliberate failure"}, status_code=503)
            if self.mode == "deny":
                return Response(DENIAL, status_code=403, media_type="text/html")
            if self.mode == "garbage":
                return Response("not json", media_type="text/plain")
            if self.mode == "short":  # A batch answer that drops its last output.
                return JSONResponse({"outputs": [s.upper() for s in inputs][:-1]})
            if self.mode == "huge":
                return StreamingResponse(self._huge(len(inputs), batched), 200)
            if self.mode == "trickle":
                return StreamingResponse(_trickle(), 200)
            if self.mode == "gzip":
                answer = json.dumps({"output": inputs[0].upper()}).encode()
                return Response(
                    gzip.compress(answer),
                    media_type="application/json",
                    headers={"Content-Encoding": "gzip"},
                )
            if batched:
                return JSONResponse({"outputs": [s.upper() for s in inputs]})
            return JSONResponse({"output": inputs[0].upper()})
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _huge(self, count: int, batched: bool) -> AsyncIterator[bytes]:
        """A valid answer of ``count`` outputs of ``huge_bytes`` each, made as it is sent."""
        yield b'{"outputs": [' if batched else b'{"output": '
        for index in range(count):
            yield b', "' if index else b'"'
            remaining = self.huge_bytes
            while remaining > 0:
                piece = _CHUNK[:remaining]
                remaining -= len(piece)
                with self._lock:
                    self.streamed_bytes += len(piece)
                yield piece
                # Sending to a client that hung up returns at once: without a pause here,
                # the server would never notice and make the whole answer for nobody.
                await asyncio.sleep(0)
            yield b'"'
        yield b"]}" if batched else b"}"

    async def _calls(self, request: Request) -> Response:
        with self._lock:
            return JSONResponse({"total": sum(self.calls.values()), "calls": dict(self.calls)})

    def start(self) -> TransformerServer:
        app = Starlette(
            routes=[
                Route("/transform", self._transform, methods=["POST"]),
                Route("/calls", self._calls, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("transformer server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> TransformerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _trickle() -> AsyncIterator[bytes]:
    yield b'{"output": "'
    while True:
        await asyncio.sleep(0.1)
        yield b"x"
