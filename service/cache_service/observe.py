"""Request metrics, recorded by a plain ASGI middleware (no per-request task or copy)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics


class RequestMetrics:
    """Counts every response by route template, status and ``X-Cache``, and times it."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int, str], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        cache = ""

        async def send_observed(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"x-cache":
                        cache = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = scope.get("route")
            # The template, never the raw path: ids would make one series per payload.
            template = getattr(route, "path", None) or "unmatched"
            key = (scope["method"], template, status, cache)
            children = self._children.get(key)
            if children is None:
                children = self._children[key] = self._bind(*key)
            count, latency = children
            count.inc()
            latency.observe(time.perf_counter() - started)

    def _bind(
        self, method: str, template: str, status: int, cache: str
    ) -> tuple[Counter, Histogram]:
        # The label space is small and bounded (routes x statuses x outcomes): cache children
        # instead of paying ``labels()`` (a lock and a lookup) twice per request.
        return (
            self.metrics.requests.labels(method, template, str(status), cache),
            self.metrics.latency.labels(method, template),
        )
