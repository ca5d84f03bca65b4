"""A Lambda execution environment without Docker: a Runtime API, and AWS's own runtime client.

``RuntimeApi`` serves the Lambda Runtime API (``/2018-06-01/runtime/...``) on a free loopback
port: the function process long-polls ``invocation/next``, gets the events that ``invoke``
queued, and posts its answer or its error back. ``LambdaFunction`` is that process: CPython
3.12 running ``awslambdaric`` (the client the AWS base images use) with the asset folders on
``PYTHONPATH`` in Lambda's order (``/var/task``, then ``/opt/python``, then the runtime's
own folder) and bytecode writing off, as on Lambda's read-only file systems.

With ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` in the function's environment, the runtime
client runs the before-snapshot hooks after init and then waits at ``restore/next``:
``snapshotted`` is set then, and ``restore()`` lets it run the after-restore hooks and take
invocations, as an environment resumed from the snapshot would.

Every invocation carries an X-Ray trace header as active tracing gives it (root, parent,
sampled), and the function sends its trace data to ``AWS_XRAY_DAEMON_ADDRESS`` over UDP, as
to Lambda's daemon; nothing need listen there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .environment import LambdaAssets

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cache-service"


class InvocationFailed(Exception):
    """The function answered with an error, or its process ended before answering."""


class InvocationTimeout(InvocationFailed):
    """The function did not answer within its timeout."""


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    answer: asyncio.Future[bytes]
    trace_header: str


def trace_header() -> str:
    """A new trace's ``Lambda-Runtime-Trace-Id``: what Lambda sends when it samples a request."""
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=1"


@dataclass
class RuntimeApi:
    """The Runtime API of one execution environment, serving ``invoke`` calls in order."""

    timeout_s: float = 28.0
    #: Chosen by the OS when the API starts (bound before it is known, so no other can take it).
    port: int = 0
    init_error: bytes | None = None
    #: What the runtime client reported when an after-restore hook failed.
    restore_error: bytes | None = None
    #: Set when a SnapStart init is done (before-snapshot hooks included): the function waits.
    snapshotted: asyncio.Event = field(default_factory=asyncio.Event)
    _restored: asyncio.Event = field(default_factory=asyncio.Event)
    #: The trace header of each invocation handed to the function, in order.
    trace_headers: list[str] = field(default_factory=list)
    # None wakes a poller when the API stops.
    _queue: asyncio.Queue[_Invocation | None] = field(default_factory=asyncio.Queue)
    _pending: dict[str, _Invocation] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """What ``AWS_LAMBDA_RUNTIME_API`` holds: host and port, no scheme."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> RuntimeApi:
        app = Starlette(
            routes=[
                Route(f"{PREFIX}/invocation/next", self._next, methods=["GET"]),
                Route(f"{PREFIX}/invocation/{{id}}/response", self._response, methods=["POST"]),
                Route(f"{PREFIX}/invocation/{{id}}/error", self._error, methods=["POST"]),
                Route(f"{PREFIX}/init/error", self._init_error, methods=["POST"]),
                Route(f"{PREFIX}/restore/next", self._restore_next, methods=["GET"]),
                Route(f"{PREFIX}/restore/error", self._restore_error, methods=["POST"]),
            ]
        )
        listening = socket.socket()
        listening.bind(("127.0.0.1", self.port))
        self.port = int(listening.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[listening]))
        async with asyncio.timeout(10):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises what stopped it
                await asyncio.sleep(0.01)
        return self

    def restore(self) -> None:
        """Resume a function waiting at ``restore/next``, as from its snapshot."""
        self._restored.set()

    async def stop(self) -> None:
        self.fail_pending("the Runtime API stopped")
        self._queue.put_nowait(None)
        self._restored.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            async with asyncio.timeout(10):
                await self._task

    async def invoke(self, event: Mapping[str, Any]) -> Any:
        """Queue ``event`` for the function and return its decoded answer."""
        loop = asyncio.get_running_loop()
        invocation = _Invocation(
            request_id=str(uuid.uuid4()),
            payload=json.dumps(event).encode(),
            deadline_ms=int((time.time() + self.timeout_s) * 1000),
            answer=loop.create_future(),
            trace_header=trace_header(),
        )
        self._pending[invocation.request_id] = invocation
        await self._queue.put(invocation)
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await invocation.answer
        except TimeoutError as exc:
            raise InvocationTimeout(f"no answer within {self.timeout_s} s") from exc
        finally:
            self._pending.pop(invocation.request_id, None)
        return json.loads(body)

    def fail_pending(self, reason: str) -> None:
        """Fail every invocation still waiting (the function's process has ended)."""
        for invocation in list(self._pending.values()):
            if not invocation.answer.done():
                invocation.answer.set_exception(InvocationFailed(reason))
        # Events queued but never taken would go to the next process; they fail here instead.
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _next(self, request: Request) -> Response:
        invocation = await self._queue.get()
        while invocation is not None and invocation.answer.done():  # failed while queued
            invocation = await self._queue.get()
        if invocation is None:
            return JSONResponse({"errorType": "RuntimeApiStopped"}, status_code=503)
        self.trace_headers.append(invocation.trace_header)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            "Lambda-Runtime-Trace-Id": invocation.trace_header,
        }
        return Response(invocation.payload, headers=headers, media_type="application/json")

    async def _response(self, request: Request) -> Response:
        return await self._answer(request, error=False)

    async def _error(self, request: Request) -> Response:
        return await self._answer(request, error=True)

    async def _answer(self, request: Request, *, error: bool) -> Response:
        invocation = self._pending.get(request.path_params["id"])
        if invocation is None or invocation.answer.done():
            return JSONResponse({"errorType": "InvalidRequestID"}, status_code=400)
        body = await request.body()
        if error:
            invocation.answer.set_exception(InvocationFailed(body.decode(errors="replace")))
        else:
            invocation.answer.set_result(body)
        return JSONResponse({"status": "OK"}, status_code=202)

    async def _init_error(self, request: Request) -> Response:
        self.init_error = await request.body()
        return JSONResponse({"status": "OK"}, status_code=202)

    async def _restore_next(self, request: Request) -> Response:
        self.snapshotted.set()
        await self._restored.wait()
        return Response(status_code=200)

    async def _restore_error(self, request: Request) -> Response:
        self.restore_error = await request.body()
        return JSONResponse({"status": "OK"}, status_code=202)


@dataclass
class LambdaFunction:
    """One execution environment: ``python3.12 -m awslambdaric HANDLER`` against ``api``."""

    assets: LambdaAssets
    handler: str
    api: RuntimeApi
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 1024
    process: asyncio.subprocess.Process | None = None
    _watch: asyncio.Task[None] | None = None

    def lambda_environment(self) -> dict[str, str]:
        """The variables Lambda sets for a python3.12 function, then the function's own."""
        search_path = [self.assets.task, self.assets.layer / "python", self.assets.runtime]
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(str(path) for path in search_path),
            "PYTHONDONTWRITEBYTECODE": "1",  # /var/task and /opt are read-only on Lambda
            "LAMBDA_TASK_ROOT": str(self.assets.task),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "_HANDLER": self.handler,
            "AWS_LAMBDA_FUNCTION_NAME": "cache-service",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            # Lambda's daemon listens on 169.254.79.129:2000; here the SDK's default address.
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            **self.environment,
        }

    async def start(self) -> LambdaFunction:
        self.process = await asyncio.create_subprocess_exec(
            self.assets.python,
            "-s",  # no user site-packages: only what the assets hold, as on Lambda
            "-m",
            "awslambdaric",
            self.handler,
            cwd=self.assets.task,
            env=self.lambda_environment(),
        )
        self._watch = asyncio.create_task(self._fail_pending_on_exit(self.process))
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def invoke(self, event: Mapping[str, Any]) -> Any:
        """``event`` through this environment; InvocationFailed at once if its process ended."""
        if not self.running:
            raise InvocationFailed("the function's process is not running")
        return await self.api.invoke(event)

    async def _fail_pending_on_exit(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        self.api.fail_pending(f"the function's process exited with {code}")

    async def stop(self) -> float:
        """End the process; return the CPU seconds it used (user + system)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            async with asyncio.timeout(10):
                await self.process.wait()
        if self._watch is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
