"""The Lambda entry point: API Gateway (REST and HTTP APIs) and Function URL events -> the app.

``handler`` is what the function's configuration names (``cache_service.aws.handler.handler``).
On demand, importing this module builds nothing: settings are read and the app is created on
the first invocation, clients connect on first use, and all of it is then reused by every warm
invocation. When init runs ahead of traffic (SnapStart, provisioned concurrency), the import
builds and warms everything instead, and registers SnapStart's hooks (``aws.snapshot``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..settings import Settings, describe_error
from . import snapshot
from .environment import ExecutionEnvironment, LambdaEvent

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mangum import Mangum
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


log = logging.getLogger(__name__)

# Kept back from the remaining time when finishing flights, so the answer still leaves in time.
_ANSWER_MARGIN_S = 0.2
# The least time left in an invocation for the hot set's flush to start (a few Redis calls).
_FLUSH_MIN_LEFT_S = 1.0


def stage_prefix(event: LambdaEvent) -> str:
    """The path prefix the client used in front of the app's routes ("/prod"), or "".

    A REST API event's ``path`` has the stage (or a custom domain's base path) removed, while
    ``requestContext.path`` is what the client sent: the prefix is the difference. An HTTP API
    on a named stage, and its 1.0 payload, keep the stage in the path itself. Function URLs and
    ``$default`` stages have no prefix.
    """
    context = event.get("requestContext") or {}
    if "version" not in event:  # REST API proxy event
        sent = str(context.get("path") or "")
        routed = str(event.get("path") or "")
        if routed and sent != routed and sent.endswith(routed):
            return sent[: -len(routed)].rstrip("/")
        return ""
    stage = str(context.get("stage") or "$default")
    if stage == "$default":
        return ""
    path = str(event.get("rawPath") or event.get("path") or "")
    prefix = f"/{stage}"
    return prefix if path == prefix or path.startswith(f"{prefix}/") else ""


class StagePrefix:
    """ASGI middleware: route without the stage prefix, but keep it as ``root_path``.

    With ``root_path`` set, ``Location`` headers and ``/docs`` (which loads
    ``{root_path}/openapi.json``) point at URLs that exist behind the stage.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            prefix = stage_prefix(scope.get("aws.event") or {})
            if prefix:
                path: str = scope["path"]
                if path == prefix or path.startswith(f"{prefix}/"):
                    path = path[len(prefix) :] or "/"
                # Starlette convention: ``path`` includes ``root_path``; routing strips it.
                scope = {**scope, "root_path": prefix, "path": prefix + path}
        await self.app(scope, receive, send)


class NoStoreErrors:
    """ASGI middleware: error answers say ``Cache-Control: no-store``.

    A 404 for an id can become a 200 once someone posts the payload, and a 503 is transient:
    neither may be kept by a cache that honours headers (a CDN in front, a browser, a client).
    API Gateway's own stage cache ignores the header; see the README for what bounds it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_no_store(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"cache-control"
                ]
                headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_no_store)


class InvocationBudget:
    """ASGI middleware: the invocation's end, less ``margin_s``, as ``scope["cache.deadline"]``.

    The app bounds a miss by it and answers 504 itself, instead of the function being cut off
    and API Gateway answering a bare 502 (Mangum passes the Lambda context as
    ``scope["aws.context"]``).
    """

    def __init__(self, app: ASGIApp, *, margin_s: float) -> None:
        self.app = app
        self.margin_s = margin_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        remaining_ms = getattr(scope.get("aws.context"), "get_remaining_time_in_millis", None)
        if scope["type"] == "http" and remaining_ms is not None:
            remaining_s = remaining_ms() / 1000
            deadline = asyncio.get_running_loop().time() + remaining_s - self.margin_s
            scope = {**scope, "cache.deadline": deadline}
        await self.app(scope, receive, send)


def warn_if_claims_outlive_the_timeout(settings: Settings, context: Any) -> None:
    """Log a warning when a claim would outlive the function's timeout.

    The first invocation's remaining time is about the function's timeout. A holder that the
    timeout cuts off leaves its claim to expire: past the timeout, every request for that work
    in the meantime waits out its own budget and answers 503. The stack sets 10 s.
    """
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return
    timeout_s = remaining_ms() / 1000
    if settings.claim_ttl_s >= timeout_s:
        log.warning(
            "CACHE_CLAIM_TTL_S=%g is not below the function's timeout (about %.0f s): work whose "
            "holder the timeout cuts off stays claimed past it; set it below (the stack uses 10)",
            settings.claim_ttl_s,
            timeout_s,
        )


async def misconfigured(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app served when the settings are invalid: a JSON 500 for every request."""
    body = b'{"detail":"the service is misconfigured; its log names the setting"}'
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LambdaHandler(ExecutionEnvironment):
    """A Lambda handler that builds the app once and serves every invocation on one loop.

    Mangum's lifespan is off on purpose: with it on, Mangum 0.22 runs the app's startup and
    shutdown around *every* invocation, so clients opened there would reconnect per request.
    The app's clients are lazy instead; they connect on first use, bound to this handler's
    loop, which is set as current before each invocation so that nothing else (a test runner,
    a library) can swap the loop under clients that already hold connections.
    """

    def __init__(
        self, settings: Callable[[], Settings] = Settings, *, observe: bool = True
    ) -> None:
        """``observe=False`` leaves Powertools out (plain logs, no EMF, no X-Ray): the
        benchmarks' measure of what observability costs a cold start."""
        super().__init__(observe=observe)
        self._settings = settings
        self._adapter: Mangum | None = None
        self._app: FastAPI | None = None
        self._timeout_checked = False

    @property
    def app(self) -> FastAPI | None:
        """The app, once the first invocation has built it."""
        return self._app

    def prepare(self) -> None:
        """Build everything the configuration uses and warm it, before any invocation.

        The clients are made without connecting, and the app serves ``snapshot.warming_events``
        (no I/O in any configuration), so the first real invocation finds its code paths
        run once. What those requests counted is not exported: they were nobody's.
        """
        self._start()
        context: Any = snapshot.InitContext()
        adapter = self._built()
        if self._app is not None:
            self._app.state.components.prepare()
        for event in snapshot.warming_events():
            adapter(event, context)
        if self._observe is not None and self._observe.emf is not None:
            self._observe.emf.forget()

    def before_snapshot(self) -> None:
        """Close every socket: the clients' connections, then the event loop (its selector
        and wake-up pipe). Each environment restored from the snapshot opens its own."""
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return
        if self._app is not None:
            loop.run_until_complete(self._app.state.components.reset())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)

    def after_restore(self) -> None:
        """Give this restored environment its own randomness and event loop (well within the
        10 s Lambda allows: no I/O; clients connect on first use)."""
        # Every copy restored from one snapshot would otherwise draw the same sequence (the
        # stores' and the transformer's retry jitter). Ids and claim tokens come from
        # os.urandom and ``secrets``, which the kernel serves fresh in each environment.
        random.seed()
        self._start()

    def _serve(self, event: LambdaEvent, context: Any) -> dict[str, Any]:
        adapter = self._built()
        if not self._timeout_checked:
            # Here rather than at build: a build at init has no invocation's timeout to read.
            self._timeout_checked = True
            if self._app is not None:
                warn_if_claims_outlive_the_timeout(self._app.state.components.settings, context)
        response = adapter(event, context)
        self._let_go(context)
        return response

    def _built(self) -> Mangum:
        if self._adapter is None:
            # The imports and the app built here allocate objects that live as long as the
            # process: collecting meanwhile only costs cold-start time (7 % of its CPU, A/B).
            collecting = gc.isenabled()
            gc.disable()
            try:
                self._adapter = self._build()
            finally:
                # Frozen, they are also left out of every later full collection (the uvicorn
                # server does the same in the app's lifespan, which Mangum does not run here).
                gc.freeze()
                if collecting:
                    gc.enable()
        return self._adapter

    def _let_go(self, context: Any) -> None:
        """Finish the flights this invocation started before the handler returns, and send
        the hot set's read counts when a flush is due.

        Mangum returns once the response is sent, and Lambda then freezes the environment:
        a flight still running (releasing its claims after a 504) would hold them until this
        environment's next invocation, and every other environment would wait them out.
        There is no background task to flush the hot set between invocations; a frozen
        environment's counts only wait for its next one.
        """
        if self._app is None or self._loop is None:
            return
        components = self._app.state.components
        flight = components.flight
        remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
        if flight.running:
            left_s = remaining_ms() / 1000 - _ANSWER_MARGIN_S if remaining_ms else _ANSWER_MARGIN_S
            self._loop.run_until_complete(flight.drain(self._loop.time() + max(0.0, left_s)))
        hot_set = components.hot_set
        # Bounded by the Redis client's timeouts; a failure keeps its counts for the next
        # invocation, and so does an invocation too near its end to risk the wait.
        time_left = remaining_ms is None or remaining_ms() / 1000 > _FLUSH_MIN_LEFT_S
        if hot_set is not None and time_left and hot_set.due():
            self._loop.run_until_complete(hot_set.flush())

    def _build(self) -> Mangum:
        from mangum import Mangum
        from pydantic import ValidationError

        from ..app import create_app

        try:
            settings = self._settings()
        except ValidationError as exc:
            # Bad configuration will not fix itself in this execution environment: answer
            # every request with a JSON 500 (not a Lambda error) and say why in the logs.
            log.error("%s", describe_error(exc))
            return Mangum(NoStoreErrors(misconfigured), lifespan="off")
        spans = self._observe.spans(settings) if self._observe is not None else None
        self._app = create_app(settings, spans)
        if self._observe is not None:
            self._observe.count(self._app.state.components.metrics)
        # Mangum's default text types suffice: nothing here is compressed, so every body
        # (JSON, HTML, Prometheus text) leaves as text and a REST API needs no binary types.
        app = InvocationBudget(NoStoreErrors(self._app), margin_s=settings.budget_margin_s)
        return Mangum(StagePrefix(app), lifespan="off")

    def close(self) -> None:
        """Release the app's clients and the loop (tests; Lambda just freezes the process)."""
        if self._app is not None and self._loop is not None:
            self._loop.run_until_complete(self._app.state.components.aclose())
        if self._loop is not None:
            self._loop.close()
        if self._observe is not None:
            self._observe.close()
        self._app = self._adapter = self._loop = self._observe = None
        self._timeout_checked = False


handler = LambdaHandler()
if snapshot.initialized_ahead():
    handler.prepare()
    snapshot.register(handler.before_snapshot, handler.after_restore)
