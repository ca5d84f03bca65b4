"""Hostile request heads against a real process: huge, slow and many, with real sockets.

The service starts with a soft open-file limit of 1024, the common default under which slow
clients used to lock everyone out at about 1,000 connections (issue 12).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import selectors
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability.test_hostile_input import rss_bytes
from tests.support.processes import ServiceProcess

MiB = 1024 * 1024
SLOW_CLIENTS = 1200
HEADER_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("heads")
    env = {
        "CACHE_SQLITE_PATH": str(workdir / "cache.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "1",
        "CACHE_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
    }
    with ServiceProcess(env=env, workdir=workdir, open_files=1024) as process:
        yield process


@pytest.fixture(scope="module", autouse=True)
def enough_files_for_the_clients() -> Iterator[None]:
    """This process holds every slow client's socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CLIENTS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit {hard} is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def pid_of(service: ServiceProcess) -> int:
    assert service.process is not None
    return service.process.pid


def send_huge_header(port: int, size: int) -> tuple[bytes, float]:
    """Send a head with one ``size``-byte header; the answer (b"" if closed) and the time."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(OSError):  # the server may close while we still write
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ")
            piece = b"a" * MiB
            for _ in range(size // MiB):
                sock.sendall(piece)
            sock.sendall(b"\r\n\r\n")
        with contextlib.suppress(OSError):  # a reset is a closed connection too
            answer = sock.recv(4096)
    return answer, time.monotonic() - started


async def test_a_64_mib_header_is_refused_at_once_while_health_keeps_answering(
    service: ServiceProcess,
) -> None:
    outcome: list[tuple[bytes, float]] = []
    attack = threading.Thread(
        target=lambda: outcome.append(send_huge_header(service.port, 64 * MiB))
    )
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=service.url, timeout=2) as client:
        attack.start()
        # Probe during the attack and for a second after it, at least 20 times in all.
        end = None
        while attack.is_alive() or end is None or time.monotonic() < end or len(latencies) < 20:
            if not attack.is_alive() and end is None:
                end = time.monotonic() + 1
            started = time.monotonic()
            response = await client.get("/health")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.02)
    attack.join()
    answer, elapsed = outcome[0]
    print(
        f"\n64 MiB header: {answer[:40]!r} after {elapsed:.2f} s; /health over "
        f"{len(latencies)} probes: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"worst {max(latencies) * 1000:.1f} ms"
    )
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b""
    assert elapsed < 10  # before: 10 s for the answer alone, with /health timing out at 2 s
    # The requirement is 100 ms; the worst probe gets a margin for a loaded 2-core CI.
    assert statistics.median(latencies) < 0.1
    assert max(latencies) < 1.0


def open_slow_heads(port: int, count: int) -> selectors.DefaultSelector:
    selector = selectors.DefaultSelector()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    return selector


def trickle_and_reap(selector: selectors.DefaultSelector) -> int:
    """One more head byte on every open slow connection; close those the server ended."""
    for key in list(selector.get_map().values()):
        with contextlib.suppress(OSError):
            key.fileobj.send(b"X")  # type: ignore[union-attr]
    ended = 0
    for key, _ in selector.select(timeout=0):
        selector.unregister(key.fileobj)
        key.fileobj.close()  # type: ignore[union-attr]
        ended += 1
    return ended


def close_all(selector: selectors.DefaultSelector) -> None:
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]
    selector.close()


async def test_1200_slow_partial_heads_do_not_stop_a_normal_client(
    service: ServiceProcess,
) -> None:
    selector = open_slow_heads(service.port, SLOW_CLIENTS)
    served = []
    ended = 0
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            deadline = time.monotonic() + HEADER_TIMEOUT_S * 2 + 3
            while selector.get_map() and time.monotonic() < deadline:
                ended += trickle_and_reap(selector)
                served.append((await client.get("/health")).status_code)
                await asyncio.sleep(0.5)
            ended += trickle_and_reap(selector)
    finally:
        still_open = len(selector.get_map())
        close_all(selector)
    print(f"\n{SLOW_CLIENTS} slow heads: {ended} ended by the server, {still_open} still open; "
          f"normal requests meanwhile: {served}")  # fmt: skip
    assert served
    assert set(served) == {200}
    # Past the cap (1024), the longest-waiting were closed at once; the rest at the deadline.
    assert still_open == 0


def test_memory_after_the_head_attacks_is_within_10_percent_of_before(
    service: ServiceProcess,
) -> None:
    # One round first: the allocator's pools grow once to what this load needs and are then
    # reused. The requirement is that an attack leaves nothing behind, round after round.
    send_huge_header(service.port, 8 * MiB)
    close_all(open_slow_heads(service.port, SLOW_CLIENTS))
    time.sleep(1)
    before = rss_bytes(pid_of(service))
    for _ in range(2):
        send_huge_header(service.port, 64 * MiB)
        selector = open_slow_heads(service.port, SLOW_CLIENTS)
        time.sleep(0.5)
        close_all(selector)
    time.sleep(1)
    after = rss_bytes(pid_of(service))
    normal = httpx.post(
        f"{service.url}/payload", json={"list_1": ["after"], "list_2": ["attack"]}, timeout=5
    )
    print(f"\nRSS before {before / MiB:.1f} MiB, after two rounds {after / MiB:.1f} MiB")
    assert normal.status_code in (200, 201)
    assert after <= before * 1.10
