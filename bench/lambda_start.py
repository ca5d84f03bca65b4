"""Lambda cold start and warm invocation, each against a baseline measured beside it."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

from cache_service.app import create_app
from cache_service.aws import LambdaHandler
from cache_service.settings import Settings, StoreKind
from tests.aws.events import event_for

IMPORT_HANDLER = "import cache_service.aws"
IMPORT_FLOOR = "import fastapi, mangum"
COLD_INVOKE = (
    "import cache_service.aws as aws;"
    "from tests.aws.events import event_for;"
    "from types import SimpleNamespace;"
    "r = aws.handler(event_for('rest', 'GET', '/health'), SimpleNamespace());"
    "assert r['statusCode'] == 200, r"
)


def _fresh_interpreter_seconds(code: str) -> float:
    timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    env = {"CACHE_STORE": "memory", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", timed],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=".",
    )
    return float(out.stdout.strip())


def median_seconds(code: str, runs: int) -> float:
    return statistics.median(_fresh_interpreter_seconds(code) for _ in range(runs))


def _asgi_get(app: Any, path: str) -> Any:
    async def call() -> int:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"example.com")],
            "client": ("127.0.0.1", 1),
            "server": ("example.com", 443),
        }
        await app(scope, receive, send)
        return status

    return call


def warm_invocations(invocations: int) -> tuple[float, float]:
    """Seconds per GET hit: through the Lambda handler, and straight into the ASGI app."""
    settings = Settings(store=StoreKind.MEMORY, transformer_delay_ms=0)
    body = json.dumps({"list_1": ["warm"], "list_2": ["start"]}).encode()
    handler = LambdaHandler(lambda: settings)
    context = SimpleNamespace()
    headers = {"content-type": "application/json"}
    posted = handler(event_for("rest", "POST", "/payload", headers=headers, body=body), context)
    id_ = json.loads(posted["body"])["id"]
    get_event = event_for("rest", "GET", f"/payload/{id_}")
    for _ in range(200):
        handler(get_event, context)
    started = time.perf_counter()
    for _ in range(invocations):
        handler(get_event, context)
    through_handler = (time.perf_counter() - started) / invocations
    handler.close()

    async def direct() -> float:
        app = create_app(settings)
        result = await app.state.components.service.submit(["warm"], ["start"])
        call = _asgi_get(app, f"/payload/{result.id}")
        for _ in range(200):
            await call()
        started = time.perf_counter()
        for _ in range(invocations):
            assert await call() == 200
        elapsed = (time.perf_counter() - started) / invocations
        await app.state.components.aclose()
        return elapsed

    return through_handler, asyncio.run(direct())
