"""One HTTP/1.1 keep-alive connection that carries one request at a time.

Measured against httpx and aiohttp in bench/cli_load.py: a request costs a fraction of the
client CPU here (httptools parses in C, nothing is pooled or shared), so at 64 connections the
service, not the client, sets the pace. It speaks only what cache-service needs: a fixed request
out, status, ``X-Cache`` and body in.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast

import httptools

from .target import Target


class TransportError(Exception):
    """No HTTP answer: the request failed below HTTP."""

    kind = "transport"


class ConnectFailed(TransportError):
    """The connection could not be opened (refused, unresolvable, TLS handshake)."""

    kind = "connect"


class Disconnected(TransportError):
    """The server closed the connection before the answer was complete."""

    kind = "disconnected"


class BadResponse(TransportError):
    """The bytes that came back are not HTTP/1.1."""

    kind = "bad response"


class TimedOut(TransportError):
    """No complete answer within the time the caller allowed, connect to last byte."""

    kind = "timeout"


@dataclass(slots=True)
class Response:
    """What a check needs from an answer."""

    status: int
    cache: str | None
    body: bytes
    retry_after: str | None = None  # When to ask again, as a 429 or 503 says it.


def encode_request(
    method: str, target: Target, path: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    """The request's bytes, built once and sent as they are by every iteration that repeats it."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {target.authority}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Exchange(asyncio.Protocol):
    """The protocol side: parses answers and hands each to the request waiting for it."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._cache: str | None = None
        self._retry_after: str | None = None
        self._body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they write the same.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(BadResponse(f"invalid HTTP answer: {error}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(Disconnected("the server closed the connection"))

    # httptools callbacks, called from feed_data.
    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"x-cache":
            self._cache = value.decode("latin-1")
        elif lowered == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = Response(
            self._parser.get_status_code(), self._cache, b"".join(self._body), self._retry_after
        )
        if not self._parser.should_keep_alive():
            self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self._transport is not None
        assert self._waiter is None
        self._cache, self._retry_after, self._body = None, None, []
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _fail(self, error: TransportError) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class Connection:
    """A worker's own connection: opened on first use, reopened when the server closed it."""

    def __init__(self, target: Target, tls: ssl.SSLContext | None) -> None:
        self._target = target
        self._tls = tls
        self._exchange: _Exchange | None = None
        self.opened = 0

    async def request(self, data: bytes) -> Response:
        """Send ``data`` and wait for its answer; ``request_within`` bounds the time it takes."""
        try:
            if self._exchange is None or self._exchange.closed:
                self._exchange = await self._open()
            return await self._exchange.send(data)
        except BaseException:
            # A late answer must never be read as the next request's: start over.
            self.close()
            raise

    async def request_within(self, data: bytes, timeout_s: float) -> Response:
        """The answer, or ``TimedOut`` when it is not complete ``timeout_s`` after the start."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.request(data)
        except TimeoutError:
            raise TimedOut(f"no complete answer within {timeout_s:g} s") from None

    def close(self) -> None:
        if self._exchange is not None:
            self._exchange.close()
            self._exchange = None

    async def _open(self) -> _Exchange:
        loop = asyncio.get_running_loop()
        try:
            _, exchange = await loop.create_connection(
                _Exchange,
                self._target.host,
                self._target.port,
                ssl=self._tls,
                server_hostname=self._target.host if self._tls else None,
            )
        except OSError as error:  # ssl.SSLError and socket.gaierror are OSErrors too.
            raise ConnectFailed(error.strerror or str(error) or type(error).__name__) from None
        self.opened += 1
        return exchange
