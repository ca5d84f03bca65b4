"""uvicorn's httptools protocol with bounded request heads, a head deadline and a connection cap.

uvicorn bounds none of these: one 64 MiB header held the event loop for 10 s, and partial heads
kept connections open until the process ran out of file descriptors (issue 12). Each limit is
checked where the bytes arrive, before the parser buffers more of them. This subclasses
uvicorn's protocol rather than replacing it because the request path (parsing, ASGI cycle,
keep-alive, pipelining) stays uvicorn's, the fastest candidate measured (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from . import request_id

log = logging.getLogger(__name__)

# How long a refused connection is still read (and what arrives discarded) before it is
# closed. Closing at once with unread input makes the kernel send a reset, and a client that
# was still writing its head would lose the answer (RFC 9112, section 9.6).
LINGER_S = 1.0
# How long a new connection that has sent nothing yet is spared when the cap makes room: long
# enough for the event loop to read what it sent after a burst of accepts.
ARRIVAL_GRACE_S = 0.5


@dataclass(frozen=True)
class HeadLimits:
    """What one connection may cost before its request reaches the app."""

    max_bytes: int  # request line and header fields together
    max_headers: int
    timeout_s: float  # from connection (or the first byte of a later request) to a whole head
    max_connections: int


def bounded_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """A protocol class for uvicorn's ``http=`` option that enforces ``limits``."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection; refuses heads that are too large, too many or too slow."""

    limits: ClassVar[HeadLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # from connection or message begin until the head is complete
        self._head_started = False  # a byte of the current head has arrived
        self._head_bytes = 0
        self._waiting_since = self.loop.time()
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False  # answered outside a request cycle; input is discarded

    # Connection life.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Checked per received chunk, so the parser never buffers much past the limit.
        if (
            self._in_head
            and self._head_bytes > self.limits.max_bytes
            and not self.transport.is_closing()
        ):
            # No lingering here: the client may still be sending megabytes, and reading them
            # costs more than a client that misses its 431 (HTTP allows closing instead).
            self._answer_and_close(431, self._too_large(), request_id.new_id(), linger=False)

    # Parser callbacks.

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_started = True
        self._head_bytes = 0
        self._waiting_since = self.loop.time()
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = self._head_started = False
        self._cancel_head_timer()
        problem = self._head_problem()
        if problem is None:
            super().on_headers_complete()
            return
        # uvicorn starts ``self.app`` for the request: swap in the refusal for this one call,
        # so the answer goes through uvicorn's own response path (and closes the connection).
        app, self.app = self.app, _Refusal(431, problem)
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers text/plain; every other error of the service is JSON.
        self._answer_and_close(400, "malformed HTTP request", request_id.new_id())

    # The limits.

    def _head_problem(self) -> str | None:
        if len(self.headers) > self.limits.max_headers:
            return (
                f"request has {len(self.headers)} header fields; at most "
                f"{self.limits.max_headers} (CACHE_MAX_HEADERS)"
            )
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        return self._too_large() if size > self.limits.max_bytes else None

    def _too_large(self) -> str:
        return (
            f"request head exceeds the limit of {self.limits.max_bytes} bytes "
            "(CACHE_MAX_HEADER_BYTES)"
        )

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._refused:
            return
        if self._busy():  # a pipelined head behind a request still running: check later
            self._arm_head_timer()
            return
        self._give_up_on_head()

    def _give_up_on_head(self, *, linger: bool = True) -> None:
        """Close a connection that has no request in flight: 408 if a head had begun."""
        if self._head_started:
            detail = f"request head not received within {self.limits.timeout_s}s"
            self._answer_and_close(408, detail, request_id.new_id(), linger=linger)
        else:  # Nothing was asked: there is nobody to answer.
            self.transport.close()

    def _make_room(self) -> None:
        """At the cap, drop the connection whose head has waited longest, else refuse this one.

        Refusing new connections instead would let slow clients lock everyone else out until
        their heads time out; dropping the longest-waiting one makes them race the deadline.
        A connection not read from yet is spared for ``ARRIVAL_GRACE_S``: under a storm of
        reconnecting slow clients, connections are accepted in bursts before any of them is
        read, and ranking only by age dropped a normal client whose whole request sat unread
        in its socket (issue 21).
        """
        now = self.loop.time()
        idle = [
            connection
            for connection in self.connections
            if isinstance(connection, BoundedHttpToolsProtocol)
            and connection is not self
            and not connection._busy()
            and not connection._refused
            and not connection.transport.is_closing()
            and (connection._head_started or now - connection._waiting_since >= ARRIVAL_GRACE_S)
        ]
        if idle:
            oldest = min(idle, key=lambda connection: connection._waiting_since)
            log.info("connection cap (%d) reached: closing the longest-waiting head", len(idle))
            # No lingering: at the cap, a descriptor held to read a slow client's rest is one
            # a new client cannot have.
            oldest._give_up_on_head(linger=False)
            return
        self._answer_and_close(
            503,
            f"the server holds its limit of {self.limits.max_connections} connections "
            "(CACHE_MAX_CONNECTIONS); retry later",
            request_id.new_id(),
            extra=b"retry-after: 1\r\n",
        )

    def _answer_and_close(
        self, status: int, detail: str, rid: str, extra: bytes = b"", *, linger: bool = True
    ) -> None:
        """Answer outside any request cycle (the head never became a request), then close."""
        log.info("%d before the app (request id %s): %s", status, rid, detail)
        body = json.dumps({"detail": detail, "request_id": rid}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: %s\r\n" % rid.encode("ascii"),
            extra,
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join([*head, body]))
        self._refused = True
        self._cancel_head_timer()
        if linger and self.transport.can_write_eof():
            # Half-close: the answer is complete; the client's end of stream (eof_received)
            # or the linger deadline closes the rest.
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()


class _Refusal:
    """A one-response ASGI app: a JSON error that also closes the connection."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id.from_headers(scope["headers"])
        log.info("%d before the app (request id %s): %s", self.status, rid, self.detail)
        body = json.dumps({"detail": self.detail, "request_id": rid}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"x-request-id", rid.encode("ascii")),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
