"""Lambda cold start in the real runtime client, and warm invocation, each against a baseline.

Cold start: ``infra/local/runtime_api`` starts CPython 3.12 running ``awslambdaric`` on the
assets the CDK stack's bundling builds (layer and function with bytecode), with bytecode
writing off, and one ``GET /health`` is queued before the process starts. A run is the wall
time from starting the process to the answer arriving at the Runtime API (init + first
invocation), and the process's CPU time. The baseline is ``bench/lambda_baseline.py`` (a bare
FastAPI + Mangum handler), packaged and measured the same way, interleaved run by run.

As deployed (DynamoDB and Redis set, here moto's server and a local redis-server), the first
invocation is measured twice: ``GET /health``, which uses neither tier, and a first ``GET
/payload/{id}`` that asks both (an id nobody stored: Redis, then DynamoDB, then 404). Work
moved out of the first (a deferred import) shows up in the second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cache_service.app import create_app
from cache_service.aws.handler import LambdaHandler
from cache_service.settings import Settings, StoreKind
from infra.assets import compile_command
from infra.local.environment import LambdaAssets, Python312Missing, build_assets
from infra.local.runtime_api import LambdaFunction, RuntimeApi
from tests.aws.events import event_for
from tests.support.moto_process import MotoServer
from tests.support.redis_process import RedisServer

BASELINE = Path(__file__).with_name("lambda_baseline.py")
UNOBSERVED = Path(__file__).with_name("lambda_unobserved.py")
HEALTH = event_for("rest", "GET", "/health")
#: A well-formed id that nothing stored: a miss in every tier, answered 404.
UNKNOWN_PAYLOAD = event_for("rest", "GET", "/payload/" + "ab" * 32)


@dataclass
class ColdCase:
    """One packaging and configuration, and its runs (wall and CPU seconds)."""

    name: str
    assets: LambdaAssets
    handler: str
    environment: dict[str, str]
    event: dict[str, Any] = field(default_factory=lambda: HEALTH)
    status: int = 200
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


async def cold_start(case: ColdCase) -> None:
    """Start one execution environment, answer its first event, record wall and CPU time."""
    api = await RuntimeApi(timeout_s=120).start()
    function = LambdaFunction(case.assets, case.handler, api, case.environment)
    try:
        started = time.perf_counter()
        await function.start()
        answer = await function.invoke(case.event)
        case.wall.append(time.perf_counter() - started)
        assert answer["statusCode"] == case.status, answer
    finally:
        case.cpu.append(await function.stop())
        await api.stop()


def cold_cases(root: Path, deployed: dict[str, str]) -> list[ColdCase]:
    """The baseline; the service as shipped, without X-Ray, without Powertools, as deployed
    (``deployed``: its tiers) for /health and for a first payload; and the service without
    bytecode. Tracing is on wherever it is not turned off: the Runtime API samples every
    invocation, as Lambda does a cold start's first request most often."""
    assets = build_assets(root / "task")
    bare_task = root / "task-baseline"
    bare_task.mkdir()
    shutil.copy(BASELINE, bare_task / BASELINE.name)
    _compile(assets.python, bare_task)
    shutil.copy(UNOBSERVED, assets.task / UNOBSERVED.name)
    _compile(assets.python, assets.task)
    no_pyc = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(assets.task, root / "plain" / "task", ignore=no_pyc)
    shutil.copytree(assets.layer, root / "plain" / "layer", ignore=no_pyc)
    without = replace(assets, task=root / "plain" / "task", layer=root / "plain" / "layer")
    service = "cache_service.aws.handler.handler"
    memory = {"CACHE_STORE": "memory"}
    baseline = replace(assets, task=bare_task)
    no_xray = {**memory, "POWERTOOLS_TRACE_DISABLED": "true"}
    unobserved = "lambda_unobserved.handler"
    return [
        ColdCase("bare FastAPI + Mangum (baseline)", baseline, "lambda_baseline.handler", {}),
        ColdCase("cache-service, memory store", assets, service, memory),
        ColdCase("cache-service, memory store, X-Ray off", assets, service, no_xray),
        ColdCase("cache-service, memory store, no Powertools", assets, unobserved, memory),
        ColdCase("cache-service as deployed (DynamoDB + Redis set)", assets, service, deployed),
        ColdCase(
            "the same, first request `GET /payload/{id}` (Redis and DynamoDB asked; 404)",
            assets,
            service,
            deployed,
            event=UNKNOWN_PAYLOAD,
            status=404,
        ),
        ColdCase("cache-service, memory store, no bytecode (before)", without, service, memory),
    ]


def _compile(python: str, folder: Path) -> None:
    subprocess.run(compile_command(python, str(folder)), check=True, timeout=300)


def measure_cold_starts(runs: int) -> list[ColdCase]:
    """Every case ``runs`` times, interleaved, so load on the machine hits all of them alike."""
    with tempfile.TemporaryDirectory(prefix="lambda-bench-") as root:
        redis = RedisServer(Path(root) / "redis").start()
        moto = MotoServer().start()
        try:
            deployed = {
                **moto.env(moto.create_table("cache-service")),
                "CACHE_REDIS_URL": redis.url,
            }
            cases = cold_cases(Path(root), deployed)
            for _ in range(runs):
                for case in cases:
                    asyncio.run(cold_start(case))
        finally:
            moto.stop()
            redis.stop()
    return cases


def spread(values: list[float]) -> str:
    """Median, and the range, in milliseconds."""
    ms = sorted(v * 1000 for v in values)
    return f"{statistics.median(ms):.0f} ms ({ms[0]:.0f} to {ms[-1]:.0f})"


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


def warm_invocations(invocations: int) -> tuple[float, float, float]:
    """Seconds per GET hit: through the Lambda handler, the same without Powertools (its JSON
    log line and EMF flush per invocation), and straight into the ASGI app."""
    settings = Settings(store=StoreKind.MEMORY, transformer_delay_ms=0)
    body = json.dumps({"list_1": ["warm"], "list_2": ["start"]}).encode()

    def through(handler: LambdaHandler) -> float:
        context = SimpleNamespace()
        headers = {"content-type": "application/json"}
        event = event_for("rest", "POST", "/payload", headers=headers, body=body)
        id_ = json.loads(handler(event, context)["body"])["id"]
        get_event = event_for("rest", "GET", f"/payload/{id_}")
        for _ in range(200):
            handler(get_event, context)
        started = time.perf_counter()
        for _ in range(invocations):
            handler(get_event, context)
        elapsed = (time.perf_counter() - started) / invocations
        handler.close()
        return elapsed

    through_handler = through(LambdaHandler(lambda: settings))
    without_powertools = through(LambdaHandler(lambda: settings, observe=False))

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

    return through_handler, without_powertools, asyncio.run(direct())


def cold_start_table(cases: list[ColdCase]) -> list[tuple[str, ...]]:
    """Rows: case; wall median (range) and its ratio; fastest wall and its ratio; CPU likewise.

    On a shared machine the wall median mostly measures the other work; the fastest run and
    the CPU time are the steadier signals, so all three are shown.
    """
    base = cases[0]
    medians = [statistics.median(case.wall) / statistics.median(base.wall) for case in cases]
    return [
        (
            case.name,
            spread(case.wall),
            f"{ratio:.2f}",
            f"{min(case.wall) / min(base.wall):.2f}",
            spread(case.cpu),
            f"{statistics.median(case.cpu) / statistics.median(base.cpu):.2f}",
        )
        for case, ratio in zip(cases, medians, strict=True)
    ]


COLD_HEADER = (
    "case",
    "wall, init + first invocation: median (range)",
    "÷ baseline (medians)",
    "÷ baseline (fastest runs)",
    "CPU: median (range)",
    "÷ baseline (medians)",
)


def main() -> None:
    parser = argparse.ArgumentParser(description="Lambda cold start in the runtime client")
    parser.add_argument("--runs", type=int, default=15, help="cold starts per case")
    args = parser.parse_args()
    try:
        cases = measure_cold_starts(args.runs)
    except Python312Missing as exc:
        sys.exit(f"cold start NOT measured: {exc}")
    print(f"{args.runs} runs per case, interleaved; python: {cases[0].assets.python}\n")
    print("| " + " | ".join(COLD_HEADER) + " |")
    print("|" + " --- |" * len(COLD_HEADER))
    for row in cold_start_table(cases):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
