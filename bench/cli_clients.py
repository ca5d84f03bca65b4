"""The HTTP clients cache-cli was chosen against, doing its work: POST, check every answer.

``python -m bench.cli_clients httpx|aiohttp URL CONCURRENCY SECONDS BODY`` prints one JSON
line (requests, requests_per_s, p50_ms, p99_ms, failures, cpu_s: the CPU seconds of the requests,
set-up excluded). Each checks what cache-cli checks on
a POST: an allowed status, X-Cache agreeing with it, an id and output, one id for the payload.
aiohttp is not a dependency: without it, that client reports itself unavailable.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

import uvloop

from cache_cli.histogram import Histogram

Send = Callable[[], Awaitable[tuple[int, str | None, bytes]]]


class Checked:
    """Latency and failures of answers checked the way cache-cli checks a POST."""

    def __init__(self) -> None:
        self.latency = Histogram()
        self.failures = 0
        self.id: str | None = None

    def check(self, status: int, cache: str | None, body: bytes, latency_ms: float) -> None:
        expected = {201: "MISS", 200: "HIT"}.get(status)
        answer = json.loads(body) if expected else None
        ok = (
            expected is not None
            and cache == expected
            and isinstance(answer, dict)
            and "output" in answer
            and answer.get("id") == (self.id or answer.get("id"))
        )
        if ok and isinstance(answer, dict):
            self.id = answer["id"]
            self.latency.record(latency_ms)
        else:
            self.failures += 1


async def drive(
    make_senders: Callable[[], Awaitable[list[Send]]], seconds: float, cpu: list[float]
) -> Checked:
    """Requests for ``seconds``; ``cpu`` gets the CPU seconds they took (set-up excluded)."""
    checked = Checked()
    senders = await make_senders()
    deadline = time.perf_counter() + seconds
    before = time.process_time()

    async def worker(send: Send) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status, cache, body = await asyncio.wait_for(send(), 10)
            checked.check(status, cache, body, (time.perf_counter() - started) * 1000)

    await asyncio.gather(*(worker(send) for send in senders))
    cpu.append(time.process_time() - before)
    return checked


async def httpx_senders(url: str, concurrency: int, body: bytes) -> list[Send]:
    """httpx tuned: one client per worker (no shared pool to contend on), keep-alive."""
    import httpx

    headers = {"content-type": "application/json"}
    clients = [
        httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=10)
        for _ in range(concurrency)
    ]

    def sender(client: httpx.AsyncClient) -> Send:
        async def send() -> tuple[int, str | None, bytes]:
            response = await client.post(url, content=body, headers=headers)
            return response.status_code, response.headers.get("x-cache"), response.content

        return send

    return [sender(client) for client in clients]


async def aiohttp_senders(url: str, concurrency: int, body: bytes) -> list[Send]:
    """aiohttp: one session, a connector bounded to the concurrency."""
    import aiohttp  # type: ignore[import-not-found,unused-ignore]

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    headers = {"content-type": "application/json"}

    async def send() -> tuple[int, str | None, bytes]:
        async with session.post(url, data=body, headers=headers) as response:
            content = await response.read()
            return int(response.status), response.headers.get("x-cache"), bytes(content)

    return [send] * concurrency


def main() -> None:
    name, url, concurrency, seconds, body = sys.argv[1:6]
    factories = {"httpx": httpx_senders, "aiohttp": aiohttp_senders}
    try:
        factories[name]
        if name == "aiohttp":
            import aiohttp  # noqa: F401
    except ImportError:
        print(json.dumps({"unavailable": f"{name} is not installed"}))
        return

    cpu: list[float] = []

    async def senders() -> list[Send]:
        return await factories[name](url, int(concurrency), body.encode())

    started = time.perf_counter()
    checked = uvloop.run(drive(senders, float(seconds), cpu))
    elapsed = time.perf_counter() - started
    count = checked.latency.count + checked.failures
    print(
        json.dumps(
            {
                "requests": count,
                "requests_per_s": count / elapsed,
                "p50_ms": checked.latency.percentile(50),
                "p99_ms": checked.latency.percentile(99),
                "failures": checked.failures,
                "cpu_s": cpu[0],
            }
        )
    )


if __name__ == "__main__":
    main()
