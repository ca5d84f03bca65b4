"""What only a real socket shows: chunked bodies over the limit, and clients that stall."""

from __future__ import annotations

import json
import socket
import time

from tests.support.processes import ServiceProcess


def exchange(process: ServiceProcess, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request piece by piece, then read whatever the server answers."""
    with socket.create_connection(("127.0.0.1", process.port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def status_and_detail(raw: bytes) -> tuple[int, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)["detail"]


def test_a_chunked_body_is_cut_off_with_413_once_it_passes_the_limit(
    shared_process: ServiceProcess,
) -> None:
    head = (
        b"POST /payload HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b" " * 4096
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(5)]  # 20 KiB > 16 KiB
    status, detail = status_and_detail(exchange(shared_process, head, chunks))
    assert status == 413
    assert "exceeds the limit of 16384 bytes" in detail


def test_a_client_that_stalls_mid_body_gets_408_after_the_read_deadline(
    shared_process: ServiceProcess,
) -> None:
    head = (
        b"POST /payload HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    started = time.monotonic()
    status, detail = status_and_detail(exchange(shared_process, head, [b'{"list_1": ']))
    assert status == 408
    assert "not received within 1.0s" in detail
    assert time.monotonic() - started < 10  # bounded: the socket timeout did not fire first


def test_the_service_still_answers_after_hostile_clients(shared_process: ServiceProcess) -> None:
    head = b"POST /payload HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    exchange(shared_process, head + b"Content-Length: 999999999\r\n\r\n", [])
    raw = exchange(
        shared_process, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", []
    )
    assert raw.startswith(b"HTTP/1.1 200")
