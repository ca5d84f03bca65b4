"""Hostile input against a real process with default limits: clear 4xx, bounded memory."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ServiceProcess

MiB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("hostile")
    env = {
        "CACHE_SQLITE_PATH": str(workdir / "cache.db"),
        "CACHE_TRANSFORMER_DELAY_MS": "1",
        "CACHE_BODY_READ_TIMEOUT_S": "2",
    }
    with ServiceProcess(env=env, workdir=workdir) as process:
        yield process


def hostile_bodies() -> dict[str, tuple[bytes, str]]:
    """name -> (body, content type)."""
    return {
        "10 MB body": (
            b'{"list_1": ["' + b"x" * (10 * MiB) + b'"], "list_2": ["y"]}',
            "application/json",
        ),
        "deep nesting": (
            b'{"list_1": ' + b"[" * 400_000 + b"]" * 400_000 + b"}",
            "application/json",
        ),
        "invalid UTF-8": (b'{"list_1": ["\xc3\x28"], "list_2": ["y"]}', "application/json"),
        "huge number": (
            b'{"list_1": [' + b"9" * 500_000 + b'], "list_2": ["y"]}',
            "application/json",
        ),
        "huge float": (b'{"list_1": [1e999999], "list_2": ["y"]}', "application/json"),
        "duplicate keys": (
            b'{"list_1": ["a"], "list_1": ["b"], "list_2": ["y"]}',
            "application/json",
        ),
        "XML": (b"<list_1>a</list_1>", "application/xml"),
        "form": (b"list_1=a&list_2=b", "application/x-www-form-urlencoded"),
        "many tiny items": (
            b'{"list_1": [' + b",".join([b'""'] * 200_000) + b'], "list_2": ["y"]}',
            "application/json",
        ),
    }


async def test_every_hostile_body_gets_a_clear_4xx_and_memory_stays_bounded(
    service: ServiceProcess,
) -> None:
    assert service.process is not None
    before = rss_bytes(service.process.pid)
    statuses: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        for _ in range(3):  # repeated, so a leak would show as growth
            for name, (body, content_type) in hostile_bodies().items():
                try:
                    response = await client.post(
                        "/payload", content=body, headers={"content-type": content_type}
                    )
                except httpx.TransportError:
                    # The server may answer 413 and close while a large upload is still
                    # being written; what matters is that it never accepted the body.
                    statuses[f"{name}: connection closed early"] += 1
                    continue
                assert 400 <= response.status_code < 500, (name, response.status_code)
                assert response.json()["detail"], name
                statuses[f"{name}: {response.status_code}"] += 1
        after = rss_bytes(service.process.pid)
        health = await client.get("/health")
        normal = await client.post("/payload", json={"list_1": ["still"], "list_2": ["fine"]})
    print(f"\nstatuses: {dict(statuses)}")
    print(f"RSS before {before / MiB:.1f} MiB, after {after / MiB:.1f} MiB")
    assert health.status_code == 200
    assert normal.status_code in (200, 201)
    assert after - before < 64 * MiB


async def test_slow_clients_are_cut_off_and_do_not_starve_others(service: ServiceProcess) -> None:
    head = (
        b"POST /payload HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    slow = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
        sock.sendall(head)
        slow.append(sock)
    try:
        async with httpx.AsyncClient(base_url=service.url, timeout=10) as client:
            meanwhile = await client.post(
                "/payload", json={"list_1": ["not"], "list_2": ["starved"]}
            )
        answers = await asyncio.gather(*(asyncio.to_thread(_read_all, s) for s in slow))
    finally:
        for sock in slow:
            sock.close()
    statuses = Counter(answer.split(b" ")[1] for answer in answers)
    print(f"\nslow clients: {dict(statuses)}; a normal request meanwhile: {meanwhile.status_code}")
    assert meanwhile.status_code in (200, 201)
    assert statuses == {b"408": 20}


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received
