"""What every request leaves behind: its id (header, log lines) and its metrics.

One plain ASGI middleware (no per-request task or copy): each layer costs the hit path, and
the id and the metrics wrap the same ``send``.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import Dimensions, Metrics, Served
from . import request_id


class ObserveRequests:
    """Gives each request an id; counts every response by route, status and ``X-Cache``.

    ``HEAD`` is served as the ``GET`` of the same path without its body, as HTTP requires
    (FastAPI routes only the methods they declare).
    """

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, replayed: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.metrics = metrics
        #: Route templates whose GET answers a shared cache replays to other clients: no
        #: request id on them, since it would reach callers it does not belong to.
        self.replayed = replayed
        self._children: dict[tuple[str, str, int, str], tuple[Counter, Histogram, Dimensions]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        rid = request_id.from_headers(scope["headers"])
        # Left set on purpose: the error handlers outside this middleware (a 500) read it.
        request_id.current.set(rid)
        rid_header = (request_id.HEADER_BYTES, rid.encode("ascii"))
        head = method == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        status = 500
        cache = ""

        async def send_observed(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                for name, value in headers:
                    if name.lower() == b"x-cache":
                        cache = value.decode("latin-1")
                if not (method == "GET" or head) or not self._replayed(scope):
                    # A new list: the response object may own (and reuse) the one it sent.
                    message = {**message, "headers": [*headers, rid_header]}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = scope.get("route")
            # The template, never the raw path: ids would make one series per payload.
            template = getattr(route, "path", None) or "unmatched"
            key = (method, template, status, cache)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = self._bind(*key)
            count, latency, dimensions = children
            count.inc()
            latency.observe(time.perf_counter() - started)
            tally = self.metrics.tally
            if tally is not None:
                tally.add("Requests", dimensions)
                tally.served.append(Served(method, scope["path"], status, rid, time.time()))

    def _replayed(self, scope: Scope) -> bool:
        route = scope.get("route")
        return route is not None and getattr(route, "path", None) in self.replayed

    def _bind(
        self, method: str, template: str, status: int, cache: str
    ) -> tuple[Counter, Histogram, Dimensions]:
        # The label space is small and bounded (routes x statuses x outcomes): cache children
        # instead of paying ``labels()`` (a lock and a lookup) twice per request.
        return (
            self.metrics.requests.labels(method, template, str(status), cache),
            self.metrics.latency.labels(method, template),
            (
                ("route", f"{method} {template}"),
                ("status", str(status)),
                ("cache", cache or "none"),
            ),
        )
