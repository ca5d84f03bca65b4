"""An HTTP proxy in front of moto that records the DynamoDB action of every call it forwards."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class RecordingProxy:
    """Forwards DynamoDB calls to moto and records each call's action (``X-Amz-Target``).

    ``hang()`` makes it hold every call it receives without ever answering it (an endpoint that
    accepts and never replies); calls after ``release()`` are forwarded again.
    """

    def __init__(self, upstream: str) -> None:
        self.actions: list[str] = []
        self._answering = threading.Event()
        self._answering.set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                proxy.actions.append("dynamodb:" + target.rpartition(".")[2])
                if not proxy._answering.is_set():
                    # Held, then dropped unanswered: its client gave up long ago, and
                    # forwarding it late would only queue it before the calls that follow.
                    proxy._answering.wait(timeout=60)
                    self.close_connection = True
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                reply = httpx.post(upstream, content=body, headers=headers, timeout=10)
                self.send_response(reply.status_code)
                for name, value in reply.headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hang(self) -> None:
        self._answering.clear()

    def release(self) -> None:
        self._answering.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
