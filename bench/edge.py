"""Choosing the HTTP server: hostile request heads and the hit path, per candidate server.

Run with ``.venv/bin/python -m bench.edge`` (needs ``wrk``, and ``granian`` and ``hypercorn``
installed for those candidates; a missing one is skipped). Prints a Markdown section for
bench/RESULTS.md. Each hit ratio is the service against the constant-answer baseline app on
the same server with the same options, measured alternately in the same run and repeated.
Servers start with a soft open-file limit of 1024, the common default.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.load import wrk
from tests.support.processes import free_port, wait_for_http

BRIEF = {"list_1": ["first string", "second string"], "list_2": ["other string", "another string"]}
SERVER_CPU, LOAD_CPU = "0", "1"
MiB = 1024 * 1024
Command = Callable[[int], list[str]]


@dataclass(frozen=True)
class Candidate:
    name: str
    service: Command  # port -> argv serving cache_service's app
    baseline: Command  # port -> argv serving bench.baseline_app on the same server and options
    needs: str | None = None  # a module that must be importable


PY = sys.executable
UVICORN = [PY, "-m", "uvicorn", "--log-level", "warning"]


def _granian(target: str, port: int, factory: bool) -> list[str]:
    return [
        str(Path(PY).with_name("granian")),
        "--interface",
        "asgi",
        *(["--factory"] if factory else []),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http",
        "1",
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
        "--http1-header-read-timeout",
        "10000",
        "--http1-buffer-size",
        "32768",
        target,
    ]


def _hypercorn(target: str, port: int) -> list[str]:
    return [
        PY,
        "-m",
        "hypercorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "uvloop",
        "--log-level",
        "warning",
        "--keep-alive",
        "5",
        target,
    ]


CANDIDATES = [
    Candidate(
        "uvicorn + httptools, stock (before)",
        lambda p: [
            *UVICORN,
            "--http",
            "httptools",
            "--factory",
            "cache_service.app:create_app",
            "--port",
            str(p),
        ],
        lambda p: [*UVICORN, "--http", "httptools", "bench.baseline_app:app", "--port", str(p)],
    ),
    Candidate(
        "uvicorn + h11, 16 KiB incomplete-event limit",
        lambda p: [
            *UVICORN,
            "--http",
            "h11",
            "--h11-max-incomplete-event-size",
            "16384",
            "--factory",
            "cache_service.app:create_app",
            "--port",
            str(p),
        ],
        lambda p: [
            *UVICORN,
            "--http",
            "h11",
            "--h11-max-incomplete-event-size",
            "16384",
            "bench.baseline_app:app",
            "--port",
            str(p),
        ],
    ),
    Candidate(
        "Hypercorn 0.18 (h11, 16 KiB, keep-alive 5 s)",
        lambda p: _hypercorn("cache_service.app:create_app()", p),
        lambda p: _hypercorn("bench.baseline_app:app", p),
        needs="hypercorn",
    ),
    Candidate(
        "Granian 2.8 (header read timeout 10 s, 32 KiB buffer)",
        lambda p: _granian("cache_service.app:create_app", p, factory=True),
        lambda p: _granian("bench.baseline_app:app", p, factory=False),
        needs="granian",
    ),
    Candidate(
        "uvicorn + httptools + bounded heads (chosen: `cache-service`)",
        lambda p: [PY, "-m", "cache_service", "--port", str(p), "--log-level", "warning"],
        lambda p: [PY, "-m", "bench.edge", "--serve-baseline", str(p)],
    ),
]


def _low_file_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))


@contextlib.contextmanager
def running(command: Command, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """A server pinned to one CPU on a free port; yields its URL and pid."""
    port = free_port()
    argv = command(port)
    pin = ["taskset", "-c", SERVER_CPU] if shutil.which("taskset") else []
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")} | env
    process = subprocess.Popen(
        [*pin, *argv],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_low_file_limit,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", process=process, timeout_s=60)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tree_rss(pid: int) -> int:
    """RSS of a process and its children (Granian serves from a worker process)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if int(entry.name) == pid or ppid == pid:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
    return total


def big_header(url: str, pid: int) -> dict[str, str]:
    """One 64 MiB header while /health is probed every 100 ms."""
    host, port = url.removeprefix("http://").split(":")
    outcome: dict[str, str] = {}

    def attack() -> None:
        started = time.monotonic()
        try:
            with socket.create_connection((host, int(port)), timeout=60) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
                chunk = b"a" * MiB
                with contextlib.suppress(OSError):
                    for _ in range(64):
                        sock.sendall(chunk)
                    sock.sendall(b"\r\n\r\n")
                answer = b""
                with contextlib.suppress(OSError):
                    answer = sock.recv(200)
            status = answer.split(b" ")[1].decode() if answer else "closed"
        except OSError as exc:
            status = f"error {type(exc).__name__}"
        outcome["answer"] = f"{status} in {time.monotonic() - started:.2f} s"

    before = tree_rss(pid)
    peak = before
    worst = 0.0
    failures = 0
    thread = threading.Thread(target=attack)
    thread.start()
    with httpx.Client(timeout=2) as client:
        while thread.is_alive():
            started = time.monotonic()
            try:
                client.get(f"{url}/health")
                worst = max(worst, time.monotonic() - started)
            except httpx.HTTPError:
                failures += 1
            peak = max(peak, tree_rss(pid))
            time.sleep(0.1)
    thread.join()
    time.sleep(1)
    outcome["health"] = f"worst {worst * 1000:.0f} ms, {failures} timed out (2 s)"
    outcome["memory"] = (
        f"{before / MiB:.0f} → peak {peak / MiB:.0f} → {tree_rss(pid) / MiB:.0f} MiB"
    )
    return outcome


def slow_heads(url: str, pid: int, connections: int, seconds: float) -> dict[str, str]:
    """``connections`` partial heads, one more byte each per second; a normal client each second."""
    host, port = url.removeprefix("http://").split(":")
    before = tree_rss(pid)
    selector = selectors.DefaultSelector()
    opened = 0
    for _ in range(connections):
        try:
            sock = socket.create_connection((host, int(port)), timeout=2)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            opened += 1
        except OSError:
            break
    served = asked = 0
    closed_by_server = 0
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=3) as client:
        while time.monotonic() < deadline:
            for key in list(selector.get_map().values()):
                with contextlib.suppress(OSError):
                    key.fileobj.send(b"X")  # type: ignore[union-attr]
            for key, _ in selector.select(timeout=0):
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
                closed_by_server += 1
            asked += 1
            with contextlib.suppress(httpx.HTTPError):
                served += client.get(f"{url}/health").status_code == 200
            time.sleep(1)
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()
    time.sleep(2)
    return {
        "slow": f"{opened} opened, {closed_by_server} closed by the server in {seconds:.0f} s",
        "normal": f"{served}/{asked} served",
        "memory": f"{before / MiB:.0f} → {tree_rss(pid) / MiB:.0f} MiB",
    }


def ratios(candidate: Candidate, env: dict[str, str], repeats: int, seconds: int) -> dict[str, str]:
    """Service ÷ baseline req/s for GET and POST hits (c=64), ``repeats`` adjacent pairs.

    Both servers run at once (an idle one costs nothing) and each pair is measured back to
    back, in ABBA order, so that load from other work on the machine hits both sides alike.
    """
    found: dict[str, list[float]] = {"GET": [], "POST": []}
    rps: dict[str, list[float]] = {"GET": [], "POST": []}
    body = json.dumps(BRIEF)
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {int(LOAD_CPU)})
    with (
        running(candidate.baseline, {}) as (base_url, _),
        running(candidate.service, env) as (url, _),
    ):
        posted = httpx.post(f"{url}/payload", json=BRIEF, timeout=30).json()
        targets = {
            "GET": (f"{base_url}/payload/{'0' * 64}", f"{url}/payload/{posted['id']}", None),
            "POST": (f"{base_url}/payload", f"{url}/payload", body),
        }
        for _ in range(repeats):
            for kind, (base_target, target, payload) in targets.items():
                base = wrk(base_target, connections=64, seconds=seconds, body=payload)
                measured = wrk(target, connections=64, seconds=seconds, body=payload)
                again = wrk(target, connections=64, seconds=seconds, body=payload)
                base_again = wrk(base_target, connections=64, seconds=seconds, body=payload)
                service_rps = (measured.requests_per_s + again.requests_per_s) / 2
                base_rps = (base.requests_per_s + base_again.requests_per_s) / 2
                found[kind].append(service_rps / base_rps)
                rps[kind].append(service_rps)
                for result in (measured, again):
                    if result.non_2xx or result.errors:
                        print(f"  !! {kind}: {result.non_2xx} non-2xx, {result.errors} errors")
    return {
        kind: f"{statistics.median(values):.2f} ({min(values):.2f} to {max(values):.2f}); "
        f"{statistics.median(rps[kind]):,.0f} req/s"
        for kind, values in found.items()
    }


def app_cpu(requests: int, rounds: int) -> dict[str, str]:
    """CPU time per hit in the apps alone, driven without a server: service ÷ baseline.

    Process CPU time is what other work on the machine cannot inflate, so this holds where
    wrk's wall-clock rates do not. The server's own cost per request, equal on both sides, is
    left out, so the ratio with a server can only be nearer 1 than this.
    """
    import asyncio

    from bench.baseline_app import app as baseline_app
    from cache_service.app import create_app
    from cache_service.settings import Settings, StoreKind

    body = json.dumps(BRIEF).encode()

    async def drive(app: Any, method: str, path: str, payload: bytes) -> float:
        headers = [(b"host", b"bench"), (b"user-agent", b"wrk")]
        if payload:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
        }  # fmt: skip
        message = {"type": "http.request", "body": payload, "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        async def send(_: dict[str, Any]) -> None:
            return None

        started = time.process_time()
        for _ in range(requests):
            await app(dict(scope), receive, send)
        return (time.process_time() - started) / requests

    async def measure() -> dict[str, list[float]]:
        service = create_app(Settings(store=StoreKind.MEMORY, transformer_delay_ms=0))
        found: dict[str, list[float]] = {"GET": [], "POST": []}
        async with service.router.lifespan_context(service):
            sent: list[bytes] = []

            async def first_send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    sent.append(message["body"])

            async def first_receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            scope = {
                "type": "http", "method": "POST", "path": "/payload", "raw_path": b"/payload",
                "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
                "headers": [(b"content-type", b"application/json")],
                "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
            }  # fmt: skip
            await service(scope, first_receive, first_send)
            payload_id = json.loads(sent[0])["id"]
            for _ in range(rounds):
                for kind, method, path, payload, base_path in (
                    ("GET", "GET", f"/payload/{payload_id}", b"", f"/payload/{'0' * 64}"),
                    ("POST", "POST", "/payload", body, "/payload"),
                ):
                    base = await drive(baseline_app, method, base_path, payload)
                    svc = await drive(service, method, path, payload)
                    found[kind].append(base / svc)
        return found

    found = asyncio.run(measure())
    return {
        kind: f"{statistics.median(v):.2f} ({min(v):.2f} to {max(v):.2f})"
        for kind, v in found.items()
    }


def serve_baseline(port: int) -> None:
    """The baseline app on exactly the server and options ``cache-service`` runs."""
    from bench.baseline_app import app
    from cache_service.http.server import serve
    from cache_service.settings import Settings

    serve(app, Settings(), host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slow", type=int, default=1200, help="slow partial-head connections")
    parser.add_argument("--only", help="run the candidates whose name contains this")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--app-cpu", action="store_true", help="only the apps' CPU time per hit, no server"
    )
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    if args.app_cpu:
        print(f"app CPU per hit, baseline ÷ service (= service throughput ÷ baseline): "
              f"{app_cpu(requests=5000, rounds=5)}")  # fmt: skip
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.slow + 512)), hard))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "CACHE_SQLITE_PATH": str(Path(tmp) / f"{uuid.uuid4().hex}.db"),
            "CACHE_TRANSFORMER_DELAY_MS": "100",
        }
        for candidate in CANDIDATES:
            if args.only and args.only not in candidate.name:
                continue
            if candidate.needs and importlib.util.find_spec(candidate.needs) is None:
                print(f"skipped {candidate.name}: {candidate.needs} is not installed")
                continue
            print(f"{candidate.name}…", flush=True)
            with running(candidate.service, env) as (url, pid):
                header = big_header(url, pid)
                print(f"  64 MiB header: {header}", flush=True)
                slow = slow_heads(url, pid, args.slow, seconds=15)
                print(f"  slow heads: {slow}", flush=True)
            hit = ratios(candidate, env, args.repeats, args.seconds)
            print(f"  hit ratios: {hit}", flush=True)
            rows.append(
                f"| {candidate.name} | {header['answer']}; /health {header['health']}; "
                f"{header['memory']} | {slow['slow']}; normal client {slow['normal']}; "
                f"{slow['memory']} | {hit['GET']} | {hit['POST']} |"
            )
    print(
        "\n| server | one 64 MiB header | 1,200 slow partial heads (15 s) | GET hit ÷ baseline "
        "| POST hit ÷ baseline |"
    )
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
