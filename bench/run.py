"""Benchmarks: every number is a ratio against a baseline measured in the same run.

Run with ``make bench`` (or ``.venv/bin/python -m bench.run``). Needs ``wrk``. Writes
``bench/RESULTS.md``. Not part of the test suite: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.load import LoadResult, wrk
from tests.support.processes import free_port, wait_for_http
from tests.support.redis_process import RedisServer

RESULTS = Path(__file__).with_name("RESULTS.md")
PROFILE = Path(__file__).with_name("PROFILE.md")
BRIEF = {"list_1": ["first string", "second string"], "list_2": ["other string", "another string"]}
SERVER_CPU, LOAD_CPU = "0", "1"


@dataclass
class Report:
    """Rows of (section, name, value, note), rendered as Markdown tables."""

    sections: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def table(self, section: str, *header: str) -> None:
        self.headers[section] = header
        self.sections[section] = []

    def row(self, section: str, *cells: str) -> None:
        self.sections[section].append(cells)
        print(f"  {' | '.join(cells)}", flush=True)

    def markdown(self) -> str:
        out = []
        for section, rows in self.sections.items():
            header = self.headers[section]
            out += [f"### {section}", "", "| " + " | ".join(header) + " |"]
            out.append("|" + " --- |" * len(header))
            out += ["| " + " | ".join(row) + " |" for row in rows]
            out.append("")
        return "\n".join(out)


@contextmanager
def server(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """A server process pinned to one CPU, so the load generator has the other."""
    pin = ["taskset", "-c", SERVER_CPU] if shutil.which("taskset") else []
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")} | env
    process = subprocess.Popen(
        [*pin, *command], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def service(env: dict[str, str], workdir: Path) -> tuple[list[str], dict[str, str], int]:
    port = free_port()
    base = {
        "CACHE_SQLITE_PATH": str(workdir / f"{uuid.uuid4().hex}.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "100",
    }
    command = [sys.executable, "-m", "cache_service", "--port", str(port), "--log-level", "warning"]
    return command, base | env, port


def baseline() -> tuple[list[str], dict[str, str], int]:
    """The constant-answer app on the server `cache-service` runs (bench/edge.py serves it)."""
    port = free_port()
    command = [sys.executable, "-m", "bench.edge", "--serve-baseline", str(port)]
    return command, {}, port


def load(url: str, connections: int, seconds: int, body: str | None = None) -> LoadResult:
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {int(LOAD_CPU)})
    result = wrk(url, connections=connections, seconds=seconds, body=body)
    if result.non_2xx or result.errors:
        print(f"  !! {url}: {result.non_2xx} non-2xx, {result.errors} socket errors")
    return result


def hit_path(report: Report, workdir: Path, seconds: int, redis_url: str) -> None:
    section = "Hit path against the floor (wrk, requests/s)"
    report.table(
        section,
        "case",
        "concurrency",
        "baseline req/s",
        "service req/s",
        "ratio",
        "p50 ms (base/svc)",
        "p99 ms (base/svc)",
        "target",
    )
    body = json.dumps(BRIEF)
    cases = [
        ("POST hit", {}, "post", "≥ 0.8"),
        ("GET hit, L1", {}, "get", "≥ 0.9"),
        (
            "GET hit, Redis only (L1 off)",
            {"CACHE_L1_MAX_ENTRIES": "0", "CACHE_REDIS_URL": redis_url},
            "get",
            "shown",
        ),
        ("GET hit, durable store only (L1 off)", {"CACHE_L1_MAX_ENTRIES": "0"}, "get", "shown"),
    ]
    for connections in (1, 64):
        with server(*baseline()) as base_url:
            base_post = load(f"{base_url}/payload", connections, seconds, body)
            base_get = load(f"{base_url}/payload/{'0' * 64}", connections, seconds)
        for name, env, kind, target in cases:
            with server(*service(env, workdir)) as url:
                posted = httpx.post(f"{url}/payload", json=BRIEF, timeout=30).json()
                if kind == "post":
                    base, measured = base_post, load(f"{url}/payload", connections, seconds, body)
                else:
                    target_url = f"{url}/payload/{posted['id']}"
                    base, measured = base_get, load(target_url, connections, seconds)
            report.row(
                section,
                name,
                str(connections),
                f"{base.requests_per_s:,.0f}",
                f"{measured.requests_per_s:,.0f}",
                f"{measured.requests_per_s / base.requests_per_s:.2f}",
                f"{base.p50_ms:.2f} / {measured.p50_ms:.2f}",
                f"{base.p99_ms:.2f} / {measured.p99_ms:.2f}",
                target,
            )


async def _timed_post(client: httpx.AsyncClient, size: int) -> float:
    nonce = uuid.uuid4().hex[:8]
    items = [f"{nonce}-{i}" for i in range(size)]
    half = (size + 1) // 2
    body = {"list_1": items[:half], "list_2": items[half:] + ([f"{nonce}-pad"] if size % 2 else [])}
    if size == 1:
        body = {"list_1": [items[0]], "list_2": [items[0]]}
    started = time.perf_counter()
    response = await client.post("/payload", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def miss_path(report: Report, workdir: Path, repeats: int) -> None:
    section = "Miss path: one POST of N distinct strings, transformer delay L = 100 ms"
    report.table(
        section, "distinct strings", "median latency", "÷ L", "transformer rounds", "target"
    )
    concurrency = 16
    env = {"CACHE_TRANSFORMER_CONCURRENCY": str(concurrency), "CACHE_MAX_ITEMS": "1000"}
    with server(*service(env, workdir)) as url:

        async def measure(size: int) -> list[float]:
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                return [await _timed_post(client, size) for _ in range(repeats)]

        for size in (1, 10, 100, 1000):
            median = statistics.median(asyncio.run(measure(size)))
            rounds = -(-size // concurrency)
            target = "≤ 1.5" if size <= concurrency else f"≈ {rounds} rounds (bound {concurrency})"
            report.row(
                section,
                str(size),
                f"{median * 1000:.0f} ms",
                f"{median / 0.1:.2f}",
                str(rounds),
                target,
            )


def _calls(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('cache_transformer_calls_total{outcome="ok"}'):
            return float(line.split()[-1])
    return 0.0


def exactly_once(report: Report, workdir: Path, redis_url: str, seconds: int) -> None:
    """Two processes, one Redis, one SQLite file, 64 clients racing over overlapping work."""
    section = "Exactly-once under load: two processes sharing Redis, 64 concurrent clients"
    report.table(
        section, "POSTs", "payloads", "distinct strings", "transformer calls", "calls ÷ strings"
    )
    env = {
        "CACHE_REDIS_URL": redis_url,
        "CACHE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:",
        "CACHE_SQLITE_PATH": str(workdir / "shared.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "20",
    }
    nonce = uuid.uuid4().hex[:6]
    words = [f"{nonce}-{i}" for i in range(400)]
    first_cmd, _, first_port = service({}, workdir)
    second_cmd, _, second_port = service({}, workdir)
    with (
        server(first_cmd, env, first_port) as first,
        server(second_cmd, env, second_port) as second,
    ):

        async def race() -> tuple[int, set[str], set[str]]:
            rng = random.Random(7)
            bodies = []
            for _ in range(seconds * 400):
                picks = rng.sample(words, 4)
                bodies.append({"list_1": picks[:2], "list_2": picks[2:]})
            queue: asyncio.Queue[dict[str, list[str]]] = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)
            ids: set[str] = set()
            strings: set[str] = set()

            async def client(url: str) -> None:
                async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                    while not queue.empty():
                        body = queue.get_nowait()
                        response = await http.post("/payload", json=body)
                        response.raise_for_status()
                        ids.add(response.json()["id"])
                        strings.update(body["list_1"] + body["list_2"])

            await asyncio.gather(*(client((first, second)[n % 2]) for n in range(64)))
            return len(bodies), ids, strings

        posts, ids, strings = asyncio.run(race())
        calls = _calls(first) + _calls(second)
    report.row(
        section,
        str(posts),
        str(len(ids)),
        str(len(strings)),
        f"{calls:.0f}",
        f"{calls / len(strings):.2f}",
    )


def waiting_cost(report: Report, workdir: Path, redis_url: str, repeats: int) -> None:
    """What polling costs a request that waits on another process's work."""
    section = "Waiting on another process: the same new payload posted to both at once"
    report.table(section, "transformer delay", "leader median", "waiter median", "waiter ÷ leader")
    env = {
        "CACHE_REDIS_URL": redis_url,
        "CACHE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:",
        "CACHE_SQLITE_PATH": str(workdir / "waiting.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "100",
    }
    first_cmd, _, first_port = service({}, workdir)
    second_cmd, _, second_port = service({}, workdir)
    with (
        server(first_cmd, env, first_port) as first,
        server(second_cmd, env, second_port) as second,
    ):

        async def pair() -> tuple[float, float]:
            body = {"list_1": [uuid.uuid4().hex], "list_2": [uuid.uuid4().hex]}
            async with httpx.AsyncClient(timeout=60) as http:

                async def timed(url: str) -> tuple[float, int]:
                    started = time.perf_counter()
                    response = await http.post(f"{url}/payload", json=body)
                    return time.perf_counter() - started, response.status_code

                (a, status_a), (b, _) = await asyncio.gather(timed(first), timed(second))
            leader, waiter = (a, b) if status_a == 201 else (b, a)
            return leader, waiter

        pairs = [asyncio.run(pair()) for _ in range(repeats * 5)]
    leader = statistics.median(p[0] for p in pairs)
    waiter = statistics.median(p[1] for p in pairs)
    report.row(
        section,
        "100 ms",
        f"{leader * 1000:.0f} ms",
        f"{waiter * 1000:.0f} ms",
        f"{waiter / leader:.2f}",
    )


def lambda_start(report: Report, runs: int) -> None:
    from bench import lambda_start as cold

    section = "Lambda: cold start and warm invocation"
    report.table(section, "measure", "cache-service", "baseline", "ratio", "baseline is")
    handler_import = cold.median_seconds(cold.IMPORT_HANDLER, runs)
    floor_import = cold.median_seconds(cold.IMPORT_FLOOR, runs)
    report.row(
        section,
        "import of the handler module",
        f"{handler_import * 1000:.0f} ms",
        f"{floor_import * 1000:.0f} ms",
        f"{handler_import / floor_import:.2f}",
        "`import fastapi, mangum`",
    )
    first = cold.median_seconds(cold.COLD_INVOKE, runs)
    report.row(
        section,
        "import + first invocation (GET /health)",
        f"{first * 1000:.0f} ms",
        f"{floor_import * 1000:.0f} ms",
        f"{first / floor_import:.2f}",
        "`import fastapi, mangum`",
    )
    through_handler, direct = cold.warm_invocations(2000)
    report.row(
        section,
        "warm GET hit",
        f"{through_handler * 1e6:.0f} µs",
        f"{direct * 1e6:.0f} µs",
        f"{through_handler / direct:.2f}",
        "the same request straight into the ASGI app",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per case")
    parser.add_argument("--repeats", type=int, default=3, help="miss-path repetitions")
    parser.add_argument("--runs", type=int, default=11, help="fresh interpreters per import")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    report = Report()
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir / "redis").start()
        try:
            print("hit path…", flush=True)
            hit_path(report, workdir, args.seconds, redis.url)
            print("miss path…", flush=True)
            miss_path(report, workdir, args.repeats)
            print("exactly once…", flush=True)
            exactly_once(report, workdir, redis.url, args.seconds)
            print("waiting…", flush=True)
            waiting_cost(report, workdir, redis.url, args.repeats)
        finally:
            redis.stop()
    print("lambda…", flush=True)
    lambda_start(report, args.runs)
    machine = (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, server pinned to CPU {SERVER_CPU}, "
        f"wrk to CPU {LOAD_CPU}"
    )
    text = (
        f"# Benchmark results\n\nRun {started:%Y-%m-%d %H:%M} UTC with `make bench` "
        f"(wrk {args.seconds}s per case). Machine: {machine}.\n\n{report.markdown()}\n"
        f"{PROFILE.read_text()}"
    )
    RESULTS.write_text(text)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
