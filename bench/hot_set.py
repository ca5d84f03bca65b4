"""The hot set (issue 19, item 2): what recording costs the hit path, and what ``warm --hot``
gives back after a FLUSHALL. Not a test: it measures and prints, it does not assert.

1. Hit throughput with recording on ÷ the same build with recording off (CACHE_HOT_SET_SIZE=0),
   both with Redis, GET and POST hits under wrk: both servers up at once, each case run on one
   then the other, the order alternating per repeat. Goal ≥ 0.97. Beside it, the server's CPU
   time per hit (``/proc``), which other work on a shared machine disturbs far less.
2. Reads of ``--ids`` payloads recorded through a running server (more reads for the first
   1,000), then FLUSHALL, then ``cache-service warm --hot 1000`` as an operator runs it, then a
   server with L1 off (a fresh process's view) GETs the 1,000: the share answered by Redis,
   and the time from FLUSHALL to the last answer. Goal ≥ 99 % within 5 s. The same run first
   measures the share without ``warm`` (the baseline).
3. The hot set's own bounds in one process: memory at ``max_pending`` ids, and one flush.

Run: ``.venv/bin/python -m bench.hot_set`` (needs wrk and redis-server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.run import BRIEF, SERVER_CPU, load, server, service
from tests.support.processes import wait_for_http
from tests.support.redis_process import RedisServer

HOT = 1000


def _spread(values: list[float]) -> str:
    shown = ", ".join(f"{v:.3f}" for v in values)
    return f"median {statistics.median(values):.3f} ({shown})"


@contextmanager
def _server(env: dict[str, str], workdir: Path) -> Iterator[tuple[str, int]]:
    """A service pinned to the server CPU (as ``bench.run.server``); its URL and pid."""
    command, base, port = service(env, workdir)
    pin = ["taskset", "-c", SERVER_CPU] if shutil.which("taskset") else []
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    process = subprocess.Popen(
        [*pin, *command],
        env=environment | base | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process=process)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def _cpu_s(pid: int) -> float:
    """CPU seconds the process's main thread (the event loop) has run, to the nanosecond
    (``/proc/<pid>/schedstat``; ``/proc/<pid>/stat`` counts 10 ms ticks, about 1.5 % of a
    5 s run's CPU, as much as the effect measured)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def recording_cost(redis_url: str, workdir: Path, repeats: int, seconds: int) -> None:
    """Hit req/s and server CPU per hit, recording on vs off, same build: both servers up at
    once, each case run on one then the other, the order alternating per repeat."""
    body = json.dumps(BRIEF)
    cases = [("GET", 1), ("POST", 1), ("GET", 64), ("POST", 64)]
    rps: dict[tuple[str, int, str], list[float]] = {}
    cpu: dict[tuple[str, int, str], list[float]] = {}
    ratios: dict[tuple[str, int], list[float]] = {}
    cpu_ratios: dict[tuple[str, int], list[float]] = {}
    envs = {
        mode: {
            "CACHE_REDIS_URL": redis_url,
            "CACHE_REDIS_PREFIX": f"ab{uuid.uuid4().hex[:6]}:",
            "CACHE_HOT_SET_SIZE": "10000" if mode == "on" else "0",
        }
        for mode in ("off", "on")
    }
    with _server(envs["off"], workdir) as off, _server(envs["on"], workdir) as on:
        servers = {"off": off, "on": on}
        ids = {
            mode: httpx.post(f"{url}/payload", json=BRIEF, timeout=30).json()["id"]
            for mode, (url, _) in servers.items()
        }
        for repeat in range(repeats):
            modes = ["off", "on"] if repeat % 2 == 0 else ["on", "off"]
            for kind, connections in cases:
                seen: dict[str, tuple[float, float]] = {}
                for mode in modes:
                    url, pid = servers[mode]
                    before = _cpu_s(pid)
                    if kind == "GET":
                        result = load(f"{url}/payload/{ids[mode]}", connections, seconds)
                    else:
                        result = load(f"{url}/payload", connections, seconds, body)
                    used = _cpu_s(pid) - before
                    per_hit_us = used / (result.requests_per_s * seconds) * 1e6
                    seen[mode] = (result.requests_per_s, per_hit_us)
                    rps.setdefault((kind, connections, mode), []).append(result.requests_per_s)
                    cpu.setdefault((kind, connections, mode), []).append(per_hit_us)
                ratios.setdefault((kind, connections), []).append(seen["on"][0] / seen["off"][0])
                cpu_ratios.setdefault((kind, connections), []).append(
                    seen["off"][1] / seen["on"][1]
                )
                print(
                    f"  repeat {repeat + 1} {kind} c={connections}: off {seen['off'][0]:,.0f} "
                    f"req/s {seen['off'][1]:.0f} us CPU/hit, on {seen['on'][0]:,.0f} req/s "
                    f"{seen['on'][1]:.0f} us CPU/hit",
                    flush=True,
                )
        flushes = _metric(on[0], 'cache_hot_set_flushes_total{outcome="ok"}')
        print(f"  the recording server flushed {flushes:.0f} times meanwhile")
    print(
        "\n| hit | c | req/s off / on (medians) | on ÷ off req/s per repeat | "
        "CPU µs per hit off / on (medians) | off ÷ on CPU per hit | goal |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind, connections in cases:
        key = (kind, connections)
        print(
            f"| {kind} | {connections} | {statistics.median(rps[*key, 'off']):,.0f} / "
            f"{statistics.median(rps[*key, 'on']):,.0f} | {_spread(ratios[key])} | "
            f"{statistics.median(cpu[*key, 'off']):.0f} / {statistics.median(cpu[*key, 'on']):.0f}"
            f" | {_spread(cpu_ratios[key])} | ≥ 0.97 |"
        )


def _metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def _post_all(url: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        semaphore = asyncio.Semaphore(32)

        async def one(i: int) -> str:
            async with semaphore:
                body = {"list_1": [f"hot-{uuid.uuid4().hex}-{i}"], "list_2": ["b"]}
                response = await client.post("/payload", json=body)
                response.raise_for_status()
                return str(response.json()["id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _tiers(url: str, ids: list[str]) -> list[str]:
    """The tier that answered each GET (X-Cache-Tier), 32 at a time."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        semaphore = asyncio.Semaphore(32)

        async def one(id_: str) -> str:
            async with semaphore:
                response = await client.get(f"/payload/{id_}")
                response.raise_for_status()
                return response.headers["x-cache-tier"]

        return list(await asyncio.gather(*(one(id_) for id_ in ids)))


def _warm(env: dict[str, str], n: int) -> dict[str, object]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    done = subprocess.run(
        [sys.executable, "-m", "cache_service", "warm", "--hot", str(n)],
        env=inherited | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"warm failed ({done.returncode}): {done.stderr}{done.stdout}")
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def flushall_goal(redis: RedisServer, workdir: Path, ids: int, repeats: int) -> None:
    """After FLUSHALL, ``warm --hot 1000``, then the share of Redis hits in a fresh process."""
    env = {
        "CACHE_REDIS_URL": redis.url,
        "CACHE_REDIS_PREFIX": f"goal{uuid.uuid4().hex[:6]}:",
        "CACHE_SQLITE_PATH": str(workdir / f"{uuid.uuid4().hex}.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "0",
    }
    fresh_env = env | {"CACHE_L1_MAX_ENTRIES": "0", "CACHE_HOT_SET_SIZE": "0"}
    command, _, port = service({}, workdir)
    fresh_command, _, fresh_port = service({}, workdir)
    with (
        server(command, env, port) as url,
        server(fresh_command, fresh_env, fresh_port) as fresh_url,
    ):
        all_ids = asyncio.run(_post_all(url, ids))
        hot = all_ids[:HOT]
        for _ in range(2):  # The first 1,000 read three times, the rest once (their POST).
            asyncio.run(_tiers(url, hot))
        time.sleep(1.5)  # One flush interval: the counts are in Redis before the FLUSHALL.
        # Baseline, same run: a FLUSHALL and no warm.
        redis.flushall()
        without = asyncio.run(_tiers(fresh_url, hot))
        share = without.count("redis") / len(without)
        print(f"  without warm: {share:.1%} of {len(without)} GETs answered by Redis")
        for repeat in range(repeats):
            time.sleep(1.5)  # The re-filled keys' counts settle; then lose them all again.
            redis.flushall()
            lost = time.perf_counter()
            summary = _warm(env, HOT)
            warmed = time.perf_counter() - lost
            tiers = asyncio.run(_tiers(fresh_url, hot))
            answered = time.perf_counter() - lost
            share = tiers.count("redis") / len(tiers)
            print(
                f"  repeat {repeat + 1}: FLUSHALL → warm done {warmed:.2f} s, → 1,000 GETs "
                f"answered {answered:.2f} s; Redis answered {share:.1%}; "
                f"warm: {json.dumps(summary)}"
            )


def bounds(redis: RedisServer) -> None:
    """Memory at ``max_pending`` distinct ids, and the time of one flush of them."""
    from cache_service.breaker import CircuitBreaker
    from cache_service.caches.hot_set import HotSet
    from cache_service.redis_connection import UNREACHABLE, RedisConnection

    async def run() -> None:
        breaker = CircuitBreaker("redis", cooldown_s=5, failures=UNREACHABLE)
        link = RedisConnection(
            redis.url, cluster=False, timeout_s=0.5, max_connections=4, breaker=breaker
        )
        hot = HotSet(link, prefix=f"bounds{uuid.uuid4().hex[:6]}:", size=10_000, flush_s=1)
        ids = [uuid.uuid4().hex * 2 for _ in range(10_000)]  # 64 characters, as payload ids
        tracemalloc.start()
        for id_ in ids:
            hot.record(id_)
        pending, _ = tracemalloc.get_traced_memory()
        assert await hot.flush()
        flushed, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # Wall time (mostly Redis running the script) and this process's CPU time (what the
        # event loop, and so every request on it, waits for).
        walls, cpus = [], []
        for _ in range(5):
            for id_ in ids:
                hot.record(id_)
            started, cpu = time.perf_counter(), time.process_time()
            assert await hot.flush()
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        one = []
        for _ in range(20):
            hot.record(ids[0])
            started = time.perf_counter()
            await hot.flush()
            one.append((time.perf_counter() - started) * 1000)
        print(
            f"  10,000 distinct ids pending: {pending / 1e6:.2f} MB (the dict, ids shared with "
            f"the request); after a flush (pending emptied, own count kept): "
            f"{flushed / 1e6:.2f} MB"
        )
        print(f"  flush of 10,000 ids, wall ms: {_spread(walls)}; CPU ms: {_spread(cpus)}")
        print(f"  flush of 1 id, wall ms: {_spread(one)}")
        await link.aclose()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per case")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved A/B repeats")
    parser.add_argument("--ids", type=int, default=1200, help="payloads read (≥ 1,000)")
    parser.add_argument(
        "--only", choices=["cost", "goal", "bounds"], help="run one part (default: all)"
    )
    args = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        redis = RedisServer(workdir / "redis").start()
        try:
            if args.only in (None, "cost"):
                print("Recording on ÷ off, hit throughput (wrk):")
                recording_cost(redis.url, workdir, args.repeats, args.seconds)
            if args.only in (None, "goal"):
                print("FLUSHALL, then warm --hot 1000:")
                flushall_goal(redis, workdir, args.ids, args.repeats)
            if args.only in (None, "bounds"):
                print("Bounds in one process:")
                bounds(redis)
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
