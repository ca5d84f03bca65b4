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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.load import LoadResult, wrk
from tests.support.moto_process import MotoServer
from tests.support.processes import free_port, wait_for_http
from tests.support.recording_proxy import RecordingProxy
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
    notes: dict[str, str] = field(default_factory=dict)

    def table(self, section: str, *header: str) -> None:
        self.headers[section] = header
        self.sections[section] = []

    def note(self, section: str, text: str) -> None:
        """A line printed under the section's table."""
        self.notes[section] = text
        print(f"  {text}", flush=True)

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
            if section in self.notes:
                out += [self.notes[section], ""]
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


def _new_payload(per_list: int) -> dict[str, list[str]]:
    nonce = uuid.uuid4().hex[:8]
    return {
        "list_1": [f"{nonce}-a{i}" for i in range(per_list)],
        "list_2": [f"{nonce}-b{i}" for i in range(per_list)],
    }


async def _timed_posts(url: str, path: str, per_list: int, repeats: int) -> list[float]:
    times = []
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        for _ in range(repeats):
            started = time.perf_counter()
            response = await client.post(path, json=_new_payload(per_list))
            times.append(time.perf_counter() - started)
            response.raise_for_status()
    return times


def _spread(values: list[float], scale: float = 1000) -> str:
    return f"{min(values) * scale:.0f}-{max(values) * scale:.0f}"


def _metric(url: str, name: str) -> float:
    """A counter from the service's /metrics (0 when absent)."""
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0


def miss_path(report: Report, workdir: Path, repeats: int) -> None:
    section = (
        "Miss path: a new payload of N distinct strings per list, transformer delay L = 100 ms"
    )
    report.table(
        section,
        "strings per list",
        "batch size",
        "calls",
        "rounds",
        "median (min-max) ms",
        "÷ L",
        "÷ floor",
        "target (÷ L)",
    )
    concurrency = 16
    with server(*baseline()) as base_url:
        floor = statistics.median(asyncio.run(_timed_posts(base_url, "/slow", 1, repeats * 3)))
    report.note(
        section,
        f"floor: the same POST answered by the baseline app after one 100 ms sleep, "
        f"{floor * 1000:.0f} ms (median of {repeats * 3}); rounds = ⌈calls ÷ "
        f"{concurrency}⌉ (CACHE_TRANSFORMER_CONCURRENCY)",
    )
    for batch in (1, 100):
        env = {
            "CACHE_TRANSFORMER_CONCURRENCY": str(concurrency),
            "CACHE_TRANSFORMER_BATCH_SIZE": str(batch),
            "CACHE_MAX_ITEMS": "1000",
        }
        with server(*service(env, workdir)) as url:
            asyncio.run(_timed_posts(url, "/payload", 1, 1))  # Connects the store.
            for per_list in (1, 10, 100, 1000):
                before = _metric(url, 'cache_transformer_calls_total{outcome="ok"}')
                times = asyncio.run(_timed_posts(url, "/payload", per_list, repeats))
                calls = _metric(url, 'cache_transformer_calls_total{outcome="ok"}') - before
                calls /= repeats
                rounds = -(-int(calls) // concurrency)
                default = batch == 100
                target = "≤ 1.5" if default and per_list <= 100 else f"≈ {rounds} rounds"
                median = statistics.median(times)
                report.row(
                    section,
                    str(per_list),
                    f"{batch}{' (default)' if default else ''}",
                    f"{calls:.0f}",
                    str(rounds),
                    f"{median * 1000:.0f} ({_spread(times)})",
                    f"{median / 0.1:.2f}",
                    f"{median / floor:.2f}",
                    target,
                )


def _words_payloads(
    count: int, strings: int, seed: str
) -> tuple[list[dict[str, list[str]]], set[str]]:
    words = [f"{seed}-{i}" for i in range(strings)]
    rng = random.Random(seed)
    bodies = [
        {"list_1": rng.sample(words, 2), "list_2": rng.sample(words, 2)} for _ in range(count)
    ]
    return bodies, {w for body in bodies for w in body["list_1"] + body["list_2"]}


async def _race(urls: list[str], bodies: list[dict[str, list[str]]], clients: int) -> Counter[int]:
    queue: asyncio.Queue[dict[str, list[str]]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    statuses: Counter[int] = Counter()

    async def client(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while not queue.empty():
                response = await http.post("/payload", json=queue.get_nowait())
                statuses[response.status_code] += 1

    await asyncio.gather(*(client(urls[n % len(urls)]) for n in range(clients)))
    return statuses


def _strings(urls: list[str]) -> float:
    return sum(_metric(url, "cache_transformer_strings_total") for url in urls)


def exactly_once(
    report: Report, workdir: Path, redis: RedisServer, moto_env: dict[str, str]
) -> None:
    """Two processes, one Redis, one store, 64 clients racing over shared strings, with Redis
    killed mid-run and restarted while the processes rejoin it 0.2 s and 3 s apart."""
    section = "Exactly-once: two processes, one Redis, 64 concurrent clients"
    report.table(
        section,
        "store",
        "Redis",
        "POSTs",
        "distinct strings",
        "strings transformed",
        "÷ distinct",
        "statuses",
    )
    for store, store_env in (
        ("SQLite", {"CACHE_SQLITE_PATH": str(workdir / f"{uuid.uuid4().hex}.db")}),
        ("DynamoDB (moto)", moto_env),
    ):
        env = {
            "CACHE_REDIS_URL": redis.url,
            "CACHE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:",
            "CACHE_TRANSFORMER_DELAY_MS": "20",
            "CACHE_STORE_TIMEOUT_S": "30",
            "CACHE_CLAIM_WAIT_S": "60",
            **store_env,
        }
        first_cmd, _, first_port = service({}, workdir)
        second_cmd, _, second_port = service({}, workdir)
        with (
            server(first_cmd, env | {"CACHE_REDIS_COOLDOWN_S": "0.2"}, first_port) as first,
            server(second_cmd, env | {"CACHE_REDIS_COOLDOWN_S": "3"}, second_port) as second,
        ):
            urls = [first, second]
            for phase in ("steady", "killed mid-run", "restarted"):
                bodies, strings = _words_payloads(600, 120, uuid.uuid4().hex[:6])
                before = _strings(urls)

                async def run(
                    bodies: list[dict[str, list[str]]] = bodies,
                    urls: list[str] = urls,
                    phase: str = phase,
                ) -> Counter[int]:
                    racing = asyncio.create_task(_race(urls, bodies, 64))
                    if phase == "killed mid-run":
                        await asyncio.sleep(0.3)
                        redis.kill()
                    return await racing

                statuses = asyncio.run(run())
                if phase == "killed mid-run":
                    redis.restart()
                transformed = _strings(urls) - before
                report.row(
                    section,
                    store,
                    phase,
                    str(len(bodies)),
                    str(len(strings)),
                    f"{transformed:.0f}",
                    f"{transformed / len(strings):.2f}",
                    ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items())),
                )


def waiting_cost(report: Report, workdir: Path, redis_url: str, repeats: int) -> None:
    """What a request pays for waiting on another process's work, woken by Redis or polling."""
    section = "Waiting on another process: the same new payload posted to both at once"
    report.table(
        section,
        "wake-up",
        "pairs",
        "leader median ms",
        "waiter median ms",
        "waiter ÷ leader (median of pairs)",
        "pairs' ratio p10-p90",
        "target",
    )
    for name, extra, target in (
        ("Redis pub/sub", {"CACHE_REDIS_URL": redis_url}, "≤ 1.05"),
        ("none (polls the store)", {}, "≤ 1.2"),
    ):
        env = {
            "CACHE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}:",
            "CACHE_SQLITE_PATH": str(workdir / f"{uuid.uuid4().hex}.db"),
            "CACHE_TRANSFORMER_DELAY_MS": "100",
            **extra,
        }
        first_cmd, _, first_port = service({}, workdir)
        second_cmd, _, second_port = service({}, workdir)
        with (
            server(first_cmd, env, first_port) as first,
            server(second_cmd, env, second_port) as second,
        ):

            async def pairs(count: int) -> list[tuple[float, float]]:
                results = []
                async with httpx.AsyncClient(timeout=60) as http:

                    async def timed(url: str, body: dict[str, list[str]]) -> tuple[float, int]:
                        started = time.perf_counter()
                        response = await http.post(f"{url}/payload", json=body)
                        return time.perf_counter() - started, response.status_code

                    for _ in range(count):
                        body = _new_payload(1)
                        (a, status_a), (b, _) = await asyncio.gather(
                            timed(first, body), timed(second, body)
                        )
                        results.append((a, b) if status_a == 201 else (b, a))
                return results

            asyncio.run(pairs(3))  # Warm: connections, and the waiter's subscription.
            measured = asyncio.run(pairs(repeats * 10))
        ratios = sorted(w / lead for lead, w in measured)
        report.row(
            section,
            name,
            str(len(measured)),
            f"{statistics.median(p[0] for p in measured) * 1000:.0f}",
            f"{statistics.median(p[1] for p in measured) * 1000:.0f}",
            f"{statistics.median(ratios):.2f}",
            f"{ratios[len(ratios) // 10]:.2f}-{ratios[len(ratios) * 9 // 10]:.2f}",
            target,
        )


def dynamodb_requests(report: Report, moto: MotoServer) -> None:
    """DynamoDB requests per unit of work, counted by a proxy in front of moto."""
    section = "DynamoDB requests on a miss and a hit, counted at the endpoint"
    report.table(section, "request", "distinct strings", "writes", "reads", "per string", "target")
    table = moto.create_table(f"bench-{uuid.uuid4().hex[:8]}")
    proxy = RecordingProxy(moto.endpoint)
    env = moto.env(table) | {
        "AWS_ENDPOINT_URL_DYNAMODB": proxy.url,
        "CACHE_TRANSFORMER_DELAY_MS": "0",
        "CACHE_STORE_TIMEOUT_S": "30",
        "CACHE_L1_MAX_ENTRIES": "0",
        # Claims are renewed (one more write each) every third of their expiry while work
        # runs; moto on a loaded machine is slow enough to reach that, DynamoDB is not.
        "CACHE_CLAIM_TTL_S": "600",
        "CACHE_CLAIM_WAIT_S": "601",
    }
    try:
        with server(*service(env, Path(tempfile.gettempdir()))) as url:
            body = _new_payload(100)
            for name in ("miss (new payload)", "hit (same payload again)"):
                proxy.actions.clear()
                httpx.post(f"{url}/payload", json=body, timeout=120).raise_for_status()
                writes = sum(
                    1 for a in proxy.actions if a.endswith(("PutItem", "UpdateItem", "DeleteItem"))
                )
                reads = len(proxy.actions) - writes
                report.row(
                    section,
                    name,
                    "200",
                    f"{writes} ({writes - 2} for strings, 2 for the payload)" if writes else "0",
                    str(reads),
                    f"{(writes - 2) / 200:.2f} writes" if writes else "0",
                    "≤ 2 writes per string, 2 per payload" if writes else "no writes",
                )
        _long_miss(report, section, moto, proxy)
    finally:
        proxy.close()


#: The stack's claim TTL and a 30 s miss, both scaled by 1/10 (moto is too slow for a 1 s TTL
#: to mean anything else): renewals depend only on their ratio.
LONG_MISS_TTL_S, LONG_MISS_S = 1.0, 3.0


def _long_miss(report: Report, section: str, moto: MotoServer, proxy: RecordingProxy) -> None:
    """Writes for a miss whose transformer call takes 3 claim expiries: renewals included."""
    env = moto.env(moto.create_table(f"bench-{uuid.uuid4().hex[:8]}")) | {
        "AWS_ENDPOINT_URL_DYNAMODB": proxy.url,
        "CACHE_TRANSFORMER_DELAY_MS": str(int(LONG_MISS_S * 1000)),
        "CACHE_STORE_TIMEOUT_S": "30",
        "CACHE_CLAIM_TTL_S": str(LONG_MISS_TTL_S),
        "CACHE_CLAIM_WAIT_S": "60",
    }
    strings = 10
    with server(*service(env, Path(tempfile.gettempdir()))) as url:
        proxy.actions.clear()
        httpx.post(f"{url}/payload", json=_new_payload(strings // 2), timeout=120)
    writes = sum(1 for a in proxy.actions if a.endswith(("PutItem", "UpdateItem", "DeleteItem")))
    renewals = int(LONG_MISS_S // (LONG_MISS_TTL_S / 3))
    report.row(
        section,
        f"miss taking {LONG_MISS_S:g} s at claim TTL {LONG_MISS_TTL_S:g} s (30 s at 10 s, scaled)",
        str(strings),
        f"{writes} ({writes / (strings + 1):.1f} per key, payload included)",
        "-",
        f"{writes / (strings + 1):.1f} writes per key",
        f"at most (keys) * (2 + floor(T / (TTL / 3))) = {(strings + 1) * (2 + renewals)}",
    )


def lambda_start(report: Report, runs: int) -> None:
    from bench import lambda_start as cold
    from infra.local.environment import Python312Missing

    section = (
        "Lambda: init + first `GET /health` in the runtime client (CPython 3.12), "
        f"{runs} runs per case, interleaved"
    )
    report.table(section, *cold.COLD_HEADER)
    try:
        cases = cold.measure_cold_starts(runs)
    except Python312Missing as exc:
        report.row(section, f"**not measured**: {exc}", "", "", "", "", "")
    else:
        for row in cold.cold_start_table(cases):
            report.row(section, *row)
    warm = (
        "Lambda: warm GET hit through the handler, without Powertools, and straight into the "
        "ASGI app (5 rounds of 2,000 each)"
    )
    report.table(
        warm,
        "through the handler",
        "÷ without Powertools (goal ≤ 1.15)",
        "÷ ASGI app (goal ≤ 2.0)",
        "without Powertools",
        "its ÷ ASGI app",
        "ASGI app",
    )
    rounds = [cold.warm_invocations(2000) for _ in range(5)]
    handler, bare, direct = (sorted(each) for each in zip(*rounds, strict=True))

    def ratio(top: int, bottom: int) -> str:
        each = sorted(r[top] / r[bottom] for r in rounds)
        return f"{statistics.median(each):.2f} ({each[0]:.2f}-{each[-1]:.2f})"

    def micros(values: list[float]) -> str:
        low, middle, high = (v * 1e6 for v in (values[0], statistics.median(values), values[-1]))
        return f"{middle:.0f} µs ({low:.0f}-{high:.0f})"

    report.row(
        warm, micros(handler), ratio(0, 1), ratio(0, 2), micros(bare), ratio(1, 2), micros(direct)
    )
    snapstart(report)


def snapstart(report: Report, children: int = 15) -> None:
    """SnapStart's split, reproduced by fork (bench/snapstart.py): init once per version,
    then restore + first invocation in each environment, against its warm invocations."""
    from bench.snapstart import measure

    section = (
        f"Lambda with SnapStart, reproduced by fork: init once, {children} restored environments "
        "(memory store, Powertools on, a GET hit); then the same with every private page copied "
        "before the clock starts, to tell the fork's copy-on-write from the code's own work"
    )
    report.table(
        section,
        "children",
        "init (per version)",
        "after_restore + first invocation",
        "warm invocation",
        "÷ warm: median (range)",
        "warm after a memory sweep",
        "÷ swept warm",
        "page faults, first invocation",
    )
    for label, pretouch in (("as forked", False), ("page copies taken first", True)):
        measured = measure(children, 200, pretouch=pretouch)
        reports, ratios = measured["reports"], measured["ratios"]
        swept = measured["swept_ratios"]
        first = [r["hook_us"] + r["first_us"] for r in reports]
        report.row(
            section,
            label,
            f"{measured['init_ms']:.0f} ms",
            f"{statistics.median(first):.0f} µs",
            f"{statistics.median(r['warm_us'] for r in reports):.0f} µs",
            f"{statistics.median(ratios):.1f} ({min(ratios):.1f}-{max(ratios):.1f}); goal ≤ 1.2",
            f"{statistics.median(r['swept_us'] for r in reports):.0f} µs",
            f"{statistics.median(swept):.1f} ({min(swept):.1f}-{max(swept):.1f})",
            f"{statistics.median(r['first_faults'] for r in reports):.0f}",
        )


# Sections other benchmarks write into RESULTS.md themselves (bench/edge.py by hand,
# bench/cli_load.py and bench/warm.py between their markers): kept as they are when this run
# rewrites the file.
_KEPT = (
    "## Choosing the HTTP server",
    "## cache-cli against hey and wrk",
    "## Keeping the cache warm",
)


def write_section(begin: str, end: str, section: str) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) into RESULTS.md, in
    place of the one between the same markers, or at the end the first time."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def _kept_sections() -> str:
    if not RESULTS.exists():
        return ""
    text = RESULTS.read_text()
    starts = [text.find("\n" + heading) for heading in _KEPT if "\n" + heading in text]
    return "\n" + text[min(starts) + 1 :] if starts else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per case")
    parser.add_argument("--repeats", type=int, default=3, help="miss-path repetitions")
    parser.add_argument("--runs", type=int, default=15, help="Lambda cold starts per case")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    report = Report()
    started = datetime.now(UTC)
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir / "redis").start()
        moto = MotoServer().start()
        try:
            print("hit path…", flush=True)
            hit_path(report, workdir, args.seconds, redis.url)
            print("miss path…", flush=True)
            miss_path(report, workdir, args.repeats)
            print("exactly once…", flush=True)
            moto_env = moto.env(moto.create_table(f"bench-{uuid.uuid4().hex[:8]}"))
            exactly_once(report, workdir, redis, moto_env)
            print("waiting…", flush=True)
            waiting_cost(report, workdir, redis.url, args.repeats)
            print("dynamodb requests…", flush=True)
            dynamodb_requests(report, moto)
        finally:
            moto.stop()
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
        f"(wrk {args.seconds}s per case). Machine: {machine}. Load average (1 min) at the "
        f"start and the end: {load_at_start:.1f} and {os.getloadavg()[0]:.1f}.\n\n"
        f"{report.markdown()}\n{PROFILE.read_text()}{_kept_sections()}"
    )
    RESULTS.write_text(text)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
