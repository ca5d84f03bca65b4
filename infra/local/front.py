"""A local API Gateway stage in front of the real Lambda runtime client, without Docker.

``python -m infra.local.front --port 3000`` (``make lambda-local``) builds the assets
the way the CDK stack bundles them, starts one execution environment (``lambda_runtime``) and
turns every request under ``/prod`` into an API Gateway REST proxy event, as the deployed
stage does, so ``cache-cli -h http://127.0.0.1:3000/prod`` exercises the real handler in the
real runtime client. Like API Gateway it answers 403 outside the stage, 502 when the function
fails and 504 when it does not answer in time, and keeps ``GET /payload/{id}`` answers for the
stack's stage-cache TTL (``--cache-ttl``); unlike it, it forwards every path under the
stage and serves one request at a time (one execution environment, no scaling out).
The function gets the caller's ``CACHE_*`` and ``AWS_*`` variables; the store defaults to
``memory``, as in the Dockerfile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from infra.config import ServiceConfig

from .environment import LambdaAssets, Python312Missing, build_assets
from .runtime_api import (
    InvocationFailed,
    InvocationTimeout,
    LambdaFunction,
    RuntimeApi,
)

HANDLER = "cache_service.aws.handler.handler"


def rest_event(request: Request, body: bytes, stage: str) -> dict[str, Any]:
    """The REST API proxy event API Gateway sends for ``request`` on ``stage``."""
    sent = request.url.path
    routed = sent[len(stage) + 1 :] or "/"
    headers: dict[str, str] = {}
    many: dict[str, list[str]] = {}
    for raw_name, raw_value in request.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = value
        many.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    many_query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query[key] = value
        many_query.setdefault(key, []).append(value)
    try:
        text, encoded = (body.decode() if body else None), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    client = request.client.host if request.client else "127.0.0.1"
    return {
        "resource": "/{proxy+}",
        "path": routed,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": many or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": many_query or None,
        "pathParameters": {"proxy": routed.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "resourcePath": "/{proxy+}",
            "httpMethod": request.method,
            "path": sent,
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "protocol": "HTTP/1.1",
            "domainName": headers.get("host", "127.0.0.1"),
            "identity": {"sourceIp": client, "userAgent": headers.get("user-agent")},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def http_response(answer: dict[str, Any]) -> Response:
    """The HTTP response API Gateway makes of a Lambda proxy answer."""
    body = answer.get("body") or ""
    content = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    many: dict[str, list[str]] = {
        name: [value] for name, value in (answer.get("headers") or {}).items()
    }
    many.update(answer.get("multiValueHeaders") or {})
    response = Response(content, status_code=int(answer["statusCode"]))
    del response.headers["content-length"]
    for name, values in many.items():
        for value in values:
            response.headers.append(name, str(value))
    response.headers["content-length"] = str(len(content))
    return response


#: The one method the stack's stage caches (``infra.api.CACHED_METHOD``).
CACHED = re.compile(r"^/payload/[^/]+$")
#: This harness's own mark on a replayed answer; API Gateway counts hits in CloudWatch instead.
REPLAY_HEADER = "x-local-stage-cache"


@dataclass
class LambdaFront:
    """The stage: requests in, one execution environment behind, restarted if it dies.

    With ``cache_ttl_s``, ``GET /payload/{id}`` answers are kept and replayed as the stack's
    stage cache does: whatever the function answered, headers included, keyed by the path and
    ``If-None-Match``. Every answer carries its own ``x-amzn-RequestId``, replays too.
    """

    api: RuntimeApi
    function: LambdaFunction
    stage: str
    cache_ttl_s: float = 0.0
    _cache: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=_METHODS)])

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if not (path == f"/{self.stage}" or path.startswith(f"/{self.stage}/")):
            return JSONResponse({"message": "Missing Authentication Token"}, status_code=403)
        request_id = str(uuid.uuid4())
        key = (path, request.headers.get("if-none-match"))
        cacheable = (
            self.cache_ttl_s > 0
            and request.method == "GET"
            and CACHED.match(path[len(self.stage) + 1 :]) is not None
        )
        if cacheable and (kept := self._cache.get(key)) and kept[0] > time.monotonic():
            return _with_request_id(http_response(kept[1]), request_id, replayed=True)
        if not self.function.running:  # the last one crashed: a new cold start
            await self.function.start()
        event = rest_event(request, await request.body(), self.stage)
        event["requestContext"]["requestId"] = request_id
        try:
            answer = await self.function.invoke(event)
        except InvocationTimeout:
            return JSONResponse({"message": "Endpoint request timed out"}, status_code=504)
        except InvocationFailed:
            return JSONResponse({"message": "Internal server error"}, status_code=502)
        if cacheable:
            self._cache[key] = (time.monotonic() + self.cache_ttl_s, answer)
        return _with_request_id(http_response(answer), request_id, replayed=False)


def _with_request_id(response: Response, request_id: str, *, replayed: bool) -> Response:
    response.headers["x-amzn-RequestId"] = request_id
    if replayed:
        response.headers[REPLAY_HEADER] = "hit"
    return response


_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def serve(host: str, port: int, stage: str, timeout_s: float, cache_ttl_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="lambda-task-") as task:
        await _serve(build_assets(Path(task)), host, port, stage, timeout_s, cache_ttl_s)


async def _serve(
    assets: LambdaAssets, host: str, port: int, stage: str, timeout_s: float, cache_ttl_s: float
) -> None:
    environment = {
        key: value for key, value in os.environ.items() if key.startswith(("CACHE_", "AWS_"))
    }
    environment.setdefault("CACHE_STORE", "memory")
    # Claims expire and waiters give up inside the invocation, as the stack sets them.
    stack = ServiceConfig()
    environment.setdefault("CACHE_CLAIM_TTL_S", str(stack.claim_ttl_s))
    environment.setdefault("CACHE_CLAIM_WAIT_S", str(stack.claim_wait_s))
    if cache_ttl_s > 0:  # as the stack sets it behind its stage cache
        environment.setdefault("CACHE_SHARED_CACHE", "true")
    api = await RuntimeApi(timeout_s=timeout_s).start()
    function = await LambdaFunction(assets, HANDLER, api, environment).start()
    front = LambdaFront(api, function, stage, cache_ttl_s)
    config = uvicorn.Config(front.app(), host=host, port=port, log_level="info", lifespan="off")
    print(f"cache-service on the Lambda runtime client: http://{host}:{port}/{stage}", flush=True)
    try:
        await uvicorn.Server(config).serve()
    finally:
        await function.stop()
        await api.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lambda_front", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--stage", default="prod", help="API Gateway stage (the path prefix)")
    parser.add_argument("--timeout", type=float, default=28.0, help="function timeout, seconds")
    parser.add_argument(
        "--cache-ttl",
        type=float,
        default=float(ServiceConfig().cache_ttl_s),
        help="stage cache TTL for GET /payload/{id}, seconds, as the stack's (0: none)",
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.stage, args.timeout, args.cache_ttl))
    except Python312Missing as exc:
        print(f"lambda_front: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
