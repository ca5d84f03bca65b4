"""The warm worker against its goals (issue 19), each against a figure measured in the same run.

``python -m bench.warm`` (``make bench-warm``). Writes its own section of bench/RESULTS.md
between markers and leaves the rest alone. Not a test: it measures and reports.

- batching: 10,000 payloads of 10 + 10 strings drawn from 20,000, batch 100, the simulated
  100 ms transformer; the floor is ``requests ÷ concurrency x delay``, the time the calls
  alone take at full concurrency;
- over HTTP: the same file through ``cache-cli warm`` against a running service;
- beside live traffic: the worker and POSTs of the same payloads at once, on one store;
- memory: a million lines, the worker's RSS sampled from outside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.run import RESULTS, write_section
from tests.support.processes import free_port, wait_for_http

BEGIN, END = "<!-- bench.warm begin -->", "<!-- bench.warm end -->"
DELAY_MS, BATCH, CONCURRENCY = 100, 100, 16
#: Concurrent clients of the live traffic beside the worker.
LIVE_CLIENTS = 16
_STRINGS = re.compile(r"^cache_transformer_strings_total (\S+)$", re.MULTILINE)
_CALLS = re.compile(r'^cache_transformer_calls_total\{outcome="ok"\} (\S+)$', re.MULTILINE)


def write_file(path: Path, payloads: int, pool: int, width: int, seed: int) -> set[str]:
    """``payloads`` lines of ``width`` + ``width`` strings from a pool; the distinct strings."""
    rng = random.Random(seed)
    words = [f"pool string number {i}" for i in range(pool)]
    seen: set[str] = set()
    with path.open("w") as out:
        for _ in range(payloads):
            list_1, list_2 = rng.sample(words, width), rng.sample(words, width)
            seen.update(list_1, list_2)
            out.write(json.dumps({"list_1": list_1, "list_2": list_2}) + "\n")
    return seen


def env_for(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
    env.update(
        {
            "CACHE_SQLITE_PATH": str(db),
            "CACHE_TRANSFORMER_DELAY_MS": str(DELAY_MS),
            "CACHE_TRANSFORMER_BATCH_SIZE": str(BATCH),
            "CACHE_TRANSFORMER_CONCURRENCY": str(CONCURRENCY),
        }
        | extra
    )
    return env


@dataclass
class Warmed:
    summary: dict[str, Any]
    peak_rss_mib: float = 0.0
    start_rss_mib: float = 0.0


def run_worker(file: Path, env: dict[str, str], sample_rss: bool = False) -> Warmed:
    """``cache-service warm FILE``; with ``sample_rss``, its RSS read from /proc every 50 ms."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cache_service", "warm", "--no-progress", str(file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples: list[float] = []
    first_line = threading.Event()

    def drain() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            first_line.set()

    def sample() -> None:
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            except OSError:
                return
            if match and first_line.is_set():
                samples.append(int(match.group(1)) / 1024)
            time.sleep(0.05)

    threads = [threading.Thread(target=drain)]
    if sample_rss:
        threads.append(threading.Thread(target=sample))
    for thread in threads:
        thread.start()
    assert process.stderr is not None
    stderr = process.stderr.read()
    process.wait()
    for thread in threads:
        thread.join()
    last = stderr.strip().splitlines()[-1]
    summary: dict[str, Any] = json.loads(last)["summary"]
    warmed = Warmed(summary)
    if samples:
        warmed.start_rss_mib, warmed.peak_rss_mib = samples[0], max(samples)
    return warmed


def spread(values: list[float], digits: int = 2) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


def batching(workdir: Path, repeats: int) -> str:
    file = workdir / "10k.jsonl"
    strings = write_file(file, 10_000, 20_000, 10, seed=19)
    floor_requests = math.ceil(len(strings) / BATCH)
    rows, walls, floors, cpus, req_ratios, str_ratios = [], [], [], [], [], []
    for repeat in range(repeats):
        db = workdir / f"batching-{repeat}.db"
        summary = run_worker(file, env_for(db)).summary
        stored = _stored_strings(db)
        floor_s = summary["transformer_requests"] / CONCURRENCY * DELAY_MS / 1000
        walls.append(summary["wall_s"])
        floors.append(floor_s)
        cpus.append(summary["cpu_s"])
        req_ratios.append(summary["transformer_requests"] / floor_requests)
        str_ratios.append(summary["strings_transformed"] / len(strings))
        bound = 1.3 * floor_s + summary["cpu_s"]
        rows.append(
            f"| {repeat + 1} | {len(strings):,} | {summary['strings_transformed']:,} "
            f"({stored:,} stored) | {str_ratios[-1]:.2f} | {summary['transformer_requests']} "
            f"| {req_ratios[-1]:.3f} | {summary['wall_s']:.2f} | {floor_s:.2f} "
            f"| {summary['cpu_s']:.2f} | {bound:.2f} | "
            f"{'met' if summary['wall_s'] <= bound else 'MISSED'} |"
        )
    return "\n".join(
        [
            "### Batching across payloads: 10,000 payloads of 10 + 10 strings from a pool of "
            f"20,000, batch {BATCH}, concurrency {CONCURRENCY}, simulated {DELAY_MS} ms",
            "",
            "| run | distinct | strings transformed | ÷ distinct (goal 1.00) | requests "
            f"| ÷ ⌈distinct ÷ {BATCH}⌉ = {floor_requests} (goal ≤ 1.05) | wall s "
            "| floor s (requests ÷ concurrency x delay) | worker CPU s "
            "| goal: 1.3 x floor + CPU | |",
            "|" + " --- |" * 11,
            *rows,
            "",
            f"Median (range) over {repeats} runs: wall {spread(walls)} s, floor "
            f"{spread(floors)} s, CPU {spread(cpus)} s; requests ÷ ⌈distinct ÷ {BATCH}⌉ "
            f"{spread(req_ratios, 3)}. 'stored' counts the string records in the SQLite file "
            "afterwards, independently of the worker's own count.",
        ]
    )


def _stored_strings(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM entries WHERE key LIKE 'string:%'"
        ).fetchone()
    return int(count)


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cache_service", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/health", process=process)
    return process, url


def _server_strings(url: str) -> tuple[int, int]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    strings = _STRINGS.search(text)
    calls = _CALLS.search(text)
    return (
        int(float(strings.group(1))) if strings else 0,
        int(float(calls.group(1))) if calls else 0,
    )


def over_http(workdir: Path, concurrency: int) -> str:
    cli = Path(sys.executable).parent / "cache-cli"
    file = workdir / "10k.jsonl"
    strings = write_file(file, 10_000, 20_000, 10, seed=19)
    process, url = _serve(env_for(workdir / "http.db"))
    try:
        started = time.perf_counter()
        result = subprocess.run(
            [
                str(cli),
                "--host",
                url,
                "--warm",
                str(file),
                "-c",
                str(concurrency),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        transformed, calls = _server_strings(url)
    finally:
        process.terminate()
        process.wait(timeout=15)
    statuses = [json.loads(line)["status"] for line in result.stdout.splitlines() if line]
    worker = run_worker(file, env_for(workdir / "http-worker.db")).summary
    return "\n".join(
        [
            f"### The same file over HTTP: cache-cli warm, -c {concurrency}, against one "
            "service process",
            "",
            "| path | lines | requests to the service | transformer calls | strings transformed "
            "| ÷ distinct (goal 1.00) | wall s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| cache-cli over HTTP | {len(statuses):,} | {len(statuses):,} | {calls} | "
            f"{transformed:,} | {transformed / len(strings):.2f} | {wall:.2f} |",
            f"| cache-service warm (same run) | {worker['lines']:,} | 0 | "
            f"{worker['transformer_requests']} | {worker['strings_transformed']:,} | "
            f"{worker['strings_transformed'] / len(strings):.2f} | {worker['wall_s']:.2f} |",
            "",
            f"cache-cli exit code {result.returncode}; statuses "
            f"{dict(sorted({s: statuses.count(s) for s in set(statuses)}.items()))}.",
        ]
    )


def beside_live_traffic(workdir: Path) -> str:
    file = workdir / "live.jsonl"
    strings = write_file(file, 4_000, 8_000, 10, seed=23)
    bodies = [json.loads(line) for line in file.read_text().splitlines()]
    env = env_for(workdir / "live.db")
    process, url = _serve(env)
    posted: dict[int, int] = {}
    try:

        def live() -> None:
            async def post_all() -> None:
                slots = asyncio.Semaphore(LIVE_CLIENTS)
                async with httpx.AsyncClient(base_url=url, timeout=60) as client:

                    async def post(body: dict[str, list[str]]) -> None:
                        async with slots:
                            status = (await client.post("/payload", json=body)).status_code
                        posted[status] = posted.get(status, 0) + 1

                    # From the other end, to meet the worker midway.
                    await asyncio.gather(*(post(body) for body in bodies[::-1]))

            asyncio.run(post_all())

        traffic = threading.Thread(target=live)
        traffic.start()
        worker = run_worker(file, env).summary
        traffic.join()
        transformed, _ = _server_strings(url)
    finally:
        process.terminate()
        process.wait(timeout=15)
    total = transformed + worker["strings_transformed"]
    return "\n".join(
        [
            f"### Beside live traffic: the worker and {LIVE_CLIENTS} concurrent clients POSTing "
            "the same 4,000 payloads (from the other end) at once, one SQLite store",
            "",
            "| distinct | by the worker | by the service | total ÷ distinct (goal 1.00) | "
            "worker created/present | POST statuses |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {len(strings):,} | {worker['strings_transformed']:,} | {transformed:,} | "
            f"{total / len(strings):.2f} | {worker['created']:,}/{worker['present']:,} | "
            f"{dict(sorted(posted.items()))} |",
        ]
    )


def memory(workdir: Path, lines: int) -> str:
    file = workdir / "million.jsonl"
    write_file(file, lines, 20_000, 10, seed=29)
    warmed = run_worker(
        file, env_for(workdir / "million.db", CACHE_TRANSFORMER_DELAY_MS="0"), sample_rss=True
    )
    grew = warmed.peak_rss_mib - warmed.start_rss_mib
    summary = warmed.summary
    return "\n".join(
        [
            f"### Memory: {lines:,} lines (10 + 10 strings from 20,000), window 1,000",
            "",
            "| RSS at the first report line MiB | peak RSS MiB | growth MiB (goal ≤ 50) | "
            "lines | created | wall s | CPU s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| {warmed.start_rss_mib:.1f} | {warmed.peak_rss_mib:.1f} | {grew:.1f} | "
            f"{summary['lines']:,} | {summary['created']:,} | {summary['wall_s']:.1f} | "
            f"{summary['cpu_s']:.1f} |",
            "",
            "RSS read from /proc/PID/status every 50 ms from outside the process, from its first "
            "report line (imports done, store open) to its exit. The transformer delay is 0 "
            "here: memory, not time, is measured.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--million", type=int, default=1_000_000, help="lines for the memory case")
    parser.add_argument("--http-concurrency", type=int, default=64)
    parser.add_argument("--skip", action="append", default=[], help="batching|http|live|memory")
    args = parser.parse_args()
    started = datetime.now(UTC)
    load_at_start = os.getloadavg()[0]
    parts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cases: tuple[tuple[str, Callable[[], str]], ...] = (
            ("batching", lambda: batching(workdir, args.repeats)),
            ("http", lambda: over_http(workdir, args.http_concurrency)),
            ("live", lambda: beside_live_traffic(workdir)),
            ("memory", lambda: memory(workdir, args.million)),
        )
        for name, case in cases:
            if name in args.skip:
                continue
            print(f"{name}…", flush=True)
            parts.append(case())
            print(parts[-1], flush=True)
    section = (
        f"{BEGIN}\n## Keeping the cache warm (`make bench-warm`)\n\n"
        f"Run {started:%Y-%m-%d %H:%M} UTC: `cache-service warm` on SQLite, 2 cores, Python "
        f"{sys.version.split()[0]}; load average (1 min) {load_at_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end.\n\n" + "\n\n".join(parts) + f"\n{END}\n"
    )
    write_section(BEGIN, END, section)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
