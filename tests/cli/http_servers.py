"""Small local HTTP servers for what a real cache-service cannot be made to do on demand."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

FAKE_ID = "a" * 64


@dataclass
class Answer:
    """What a scripted server sends back."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def contract_answer(method: str, path: str, calls: int) -> Answer:
    """A well-behaved cache: MISS first, HIT after, GET agrees with POST."""
    body = {"id": FAKE_ID, "output": ["A"]}
    if method == "GET":
        return Answer(200, body, {"X-Cache": "HIT"})
    if calls == 1:
        return Answer(201, body, {"X-Cache": "MISS"})
    return Answer(200, body, {"X-Cache": "HIT"})


@dataclass
class Seen:
    """One request a server received."""

    method: str
    path: str
    headers: dict[str, str]  # Names in lower case.
    client: tuple[str, int] = ("", 0)  # The client's address: one port per connection.


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a timeout, a stop) is expected here, not news."""


class _InBackground:
    """A socketserver on a free loopback port, serving from a thread while in ``with``."""

    _server: socketserver.TCPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class LocalServer(_InBackground):
    """A threaded HTTP server on a free loopback port that records every request it sees."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    def respond(self, seen: Seen, body: bytes) -> Answer:
        """The answer to one request; subclasses decide."""
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # Keep-alive, as a real service answers.

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.client_address,
                )
                with owner._lock:
                    owner.seen.append(seen)
                answer = owner.respond(seen, body)
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


class ScriptedServer(LocalServer):
    """Answers with ``script(method, path, nth call of that method)`` after ``delay_s``."""

    def __init__(
        self,
        script: Callable[[str, str, int], Answer] = contract_answer,
        *,
        delay_s: float = 0.0,
    ) -> None:
        self.script = script
        self.delay_s = delay_s
        self.in_flight = 0
        self.most_in_flight = 0
        super().__init__()

    def respond(self, seen: Seen, body: bytes) -> Answer:
        with self._lock:
            calls = sum(s.method == seen.method for s in self.seen)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            return self.script(seen.method, seen.path, calls)
        finally:
            with self._lock:
                self.in_flight -= 1


class StageProxy(LocalServer):
    """An API Gateway stand-in: serves the service under ``/<stage>`` and nothing else."""

    def __init__(self, upstream: str, stage: str = "prod") -> None:
        self.upstream = upstream
        self.prefix = f"/{stage}"
        super().__init__()

    def respond(self, seen: Seen, body: bytes) -> Answer:
        if not seen.path.startswith(self.prefix + "/"):
            return Answer(403, {"message": "Missing Authentication Token"})
        response = httpx.request(
            seen.method,
            self.upstream + seen.path.removeprefix(self.prefix),
            content=body,
            headers={"content-type": seen.headers.get("content-type", "")},
            timeout=10,
        )
        cache = {"X-Cache": response.headers["x-cache"]} if "x-cache" in response.headers else {}
        return Answer(response.status_code, response.json(), cache)


class TricklingServer(_InBackground):
    """Answers every request with a body sent one byte every ``gap_s``: each read is quick, the
    whole answer is slow, as a per-read timeout cannot see."""

    def __init__(self, *, length: int = 40, gap_s: float = 0.1) -> None:
        self.length = length
        self.gap_s = gap_s
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass  # Headers; the CLI's POST body is then left unread.
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {owner.length}\r\n\r\n"
                )
                try:
                    self.wfile.write(head.encode())
                    for _ in range(owner.length):
                        time.sleep(owner.gap_s)
                        self.wfile.write(b" ")
                except OSError:
                    pass  # The client gave up, as it should.

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
